/**
 * The request limits in Apollo's pipeline (HTTP): parse and validation limits are Apollo options
 * (server.ts passes `limits.parseOptions` and `limits.validationRules`); this plugin prices the
 * resolved operation, charges the caller's bucket before execution, gives back the unused part
 * after it, and reports `extensions.cost` on every answer that got that far.
 */
import type { ApolloServerPlugin } from "@apollo/server";
import { GraphQLSchema, Kind, OperationDefinitionNode } from "graphql";
import type { RequestContext } from "../../context";
import { Charge, CostReport, RequestLimits, withoutSuggestions } from "./request-limits";
import { Unauthenticated } from "../errors";

function introspectionOnly(operation: OperationDefinitionNode): boolean {
  return operation.selectionSet.selections.every((s) => s.kind === Kind.FIELD && s.name.value.startsWith("__"));
}

export function limitsPlugin(limits: RequestLimits, schema: GraphQLSchema): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      let charge: Charge | undefined;
      let refused: CostReport | undefined;
      return {
        async didResolveOperation({ document, operation, request, contextValue }) {
          // No operation serves a caller without a credential (the policies say so): it is told
          // that before its request is priced, let alone run. Introspection and __typename remain.
          // No operation of that name: Apollo answers OPERATION_RESOLUTION_FAILURE, nothing runs.
          if (!operation) return;
          if (contextValue.actor.kind === "anonymous" && !introspectionOnly(operation)) {
            throw new Unauthenticated(undefined, { http: { status: 401 } });
          }
          try {
            charge = await limits.charge(schema, contextValue.actor, contextValue.clientAddress, document, request.operationName, request.variables);
          } catch (err) {
            refused = (err as { extensions?: { cost?: CostReport } }).extensions?.cost;
            throw err;
          }
        },
        async didEncounterErrors({ errors }) {
          if (limits.config.fieldSuggestions) return;
          for (const error of errors) error.message = withoutSuggestions(error.message);
        },
        async willSendResponse({ response, document, operation, request, contextValue }) {
          if (response.body.kind !== "single") return charge?.leave?.();
          let report = refused;
          const hadErrors = !!response.body.singleResult.errors?.length;
          if (charge && document && operation) report = await limits.settle(charge, schema, document, operation, response.body.singleResult.data, hadErrors);
          else charge?.leave?.();
          // A document that did not parse or validate, or named no operation, was never priced,
          // yet parsing and validating it can take a hundred milliseconds (graphql's overlapping-
          // fields check is quadratic): it costs its length, a point per ten characters.
          if (!charge && !refused && contextValue?.actor)
            await limits.debit(contextValue.actor, contextValue.clientAddress, Math.ceil((request.query?.length ?? 0) / 10));
          if (report) response.body.singleResult.extensions = { ...response.body.singleResult.extensions, cost: report };
        },
      };
    },
  };
}
