/**
 * Argument validation: class-validator on the input classes, as type-graphql's default does it,
 * minus work that default and class-validator repeat on every call for the same answer.
 */
import { getMetadataStorage, validateOrReject, ValidatorOptions } from "class-validator";
import { ArgumentValidationError } from "type-graphql";

/**
 * The options type-graphql's own `validate` setting resolves to (it defaults skipMissingProperties
 * to true and forbidUnknownValues to false), built once.
 */
const VALIDATOR_OPTIONS: ValidatorOptions = {
  forbidUnknownValues: false,
  validationError: { target: false, value: false },
  skipMissingProperties: true,
};

const validated = (value: unknown): value is object => value !== null && typeof value === "object";

/**
 * class-validator works out a class's validation metadata (its own and its base classes', by a scan
 * of every registered class) again on every validate call. The answer only changes when metadata
 * is registered (decorators, at module load): remember it per class for calls without groups or a
 * schema, as ours are, and forget everything whenever anything is registered.
 */
function memoizeTargetMetadatas(): void {
  const storage = getMetadataStorage() as any;
  if (storage.__memoizedTargetMetadatas) return;
  storage.__memoizedTargetMetadatas = true;
  const memo = new Map<unknown, unknown[]>();
  const original = storage.getTargetValidationMetadatas;
  storage.getTargetValidationMetadatas = function (target: unknown, schema: unknown, always: boolean, strictGroups: boolean, groups?: string[]) {
    if (schema !== undefined || always || strictGroups || (groups && groups.length > 0)) return original.call(this, target, schema, always, strictGroups, groups);
    let found = memo.get(target);
    if (!found) memo.set(target, (found = original.call(this, target, schema, always, strictGroups, groups)));
    return found;
  };
  for (const name of ["addValidationMetadata", "addConstraintMetadata", "addValidationSchema"]) {
    const add = storage[name];
    storage[name] = function (...args: unknown[]) {
      memo.clear();
      return add.apply(this, args);
    };
  }
}
memoizeTargetMetadatas();

/**
 * type-graphql's `validateFn`: what its default does (class-validator on object arguments and on
 * the objects of list arguments, failures as ArgumentValidationError), without what that default
 * repeats on every argument of every call: a `require("class-validator")` (a module resolution)
 * and the merge of the options.
 */
export async function validateArgument(value: unknown): Promise<void> {
  if (!validated(value)) return;
  try {
    if (Array.isArray(value)) await Promise.all(value.filter(validated).map((item) => validateOrReject(item, VALIDATOR_OPTIONS)));
    else await validateOrReject(value, VALIDATOR_OPTIONS);
  } catch (err) {
    throw new ArgumentValidationError(err as any);
  }
}
