/**
 * Argument validation: class-validator on the input classes, as type-graphql's default does it,
 * minus work that default and class-validator repeat on every call for the same answer.
 */
import { getMetadataStorage, Length, Matches, validateOrReject, ValidationError, ValidatorOptions } from "class-validator";
import { getNullableType, isListType } from "graphql";
import { ArgumentValidationError, ResolverData } from "type-graphql";

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
    if (schema !== undefined || always || strictGroups || (groups && groups.length > 0))
      return original.call(this, target, schema, always, strictGroups, groups);
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
export async function validateArgument(value: unknown, _type?: unknown, resolverData?: ResolverData<object>): Promise<void> {
  if (!validated(value)) return;
  if (!Array.isArray(value)) {
    try {
      await validateOrReject(value, VALIDATOR_OPTIONS);
    } catch (err) {
      throw new ArgumentValidationError(err as any);
    }
    return;
  }
  // A list argument: each item's errors under its index and the argument's name (rules[1].pointsPerUnit),
  // so a client sending twenty rules knows which one is wrong.
  const failures = await Promise.all(
    value.map((item, index) =>
      validated(item)
        ? validateOrReject(item, VALIDATOR_OPTIONS).then(
            () => null,
            (errors: ValidationError[]) => ({ index, errors }),
          )
        : null,
    ),
  );
  const items = failures.filter((f): f is { index: number; errors: ValidationError[] } => f !== null);
  if (items.length === 0) return;
  const indexed = items.map(({ index, errors }) => Object.assign(new ValidationError(), { property: String(index), children: errors, constraints: {} }));
  const name = listArgumentName(resolverData);
  throw new ArgumentValidationError(name ? [Object.assign(new ValidationError(), { property: name, children: indexed, constraints: {} })] : indexed);
}

/** The name of the field's one list argument (the only kind validated item by item). */
function listArgumentName(resolverData?: ResolverData<object>): string | null {
  const info = resolverData?.info;
  if (!info) return null;
  const field = info.parentType.getFields()[info.fieldName];
  const lists = field?.args.filter((arg) => isListType(getNullableType(arg.type))) ?? [];
  return lists.length === 1 ? lists[0].name : null;
}

/** What an erased customer's partner id starts with (src/modules/customer/erasure.ts): no partner id may. */
export const ERASED_ID_PREFIX = "erased:";

/**
 * A partner's id for a customer: 1-200 characters, and not one an erasure leaves behind, so no
 * partner can name (and so write to, or re-identify) an erased customer.
 */
export function IsPartnerCustomerId(): PropertyDecorator {
  const length = Length(1, 200);
  const notErased = Matches(/^(?!erased:)/, { message: `$property may not start with "${ERASED_ID_PREFIX}": those name erased customers` });
  return (target, property) => {
    length(target, property as string);
    notErased(target, property as string);
  };
}
