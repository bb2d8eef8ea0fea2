/**
 * What a GraphQL document costs the database, counted before anything runs, so that one request cannot ask for
 * thousands of account loads (50 aliases of `atRiskAccounts(first: 500) { totalCount items { account { … } } }` is
 * 50 counts and 25,000 account loads; depth, alias and token limits alone let it through).
 *
 * The cost of a selection is the sum of its fields'; a field costs
 * - 1, plus its selection's cost (fragments and inline fragments counted where they are spread);
 * - on a paginated field, its `items` selection times the page size: `first` (a literal, or the largest page,
 *   MAX_PAGE, when it is a variable; the paginated fields' own default, DEFAULT_PAGE, without it);
 * - plus TOTAL_COUNT for `totalCount` (a COUNT over the accounts), plus ACCOUNT_LOAD for an `account` with a
 *   selection (an account's positions on every chain).
 * A document over `SALVAGE_MAX_QUERY_COST` (src/api/limits.ts) is refused with its cost and the limit.
 */
import { type ASTVisitor, type FieldNode, type FragmentDefinitionNode, GraphQLError, Kind, type SelectionSetNode, type ValidationContext } from "graphql";
import type { Plugin } from "graphql-yoga";
import { apiLimits } from "./limits.js";
import { MAX_PAGE } from "./queries.js";

export const TOTAL_COUNT = 100;
export const ACCOUNT_LOAD = 10;
/** The page size of a paginated field asked without `first` (its resolvers' default). */
export const DEFAULT_PAGE = 50;
const PAGINATED = new Set(["atRiskAccounts", "opportunities", "opportunityEvents"]);

function pageSize(field: FieldNode): number | undefined {
  const first = field.arguments?.find((a) => a.name.value === "first");
  if (!first) return PAGINATED.has(field.name.value) ? DEFAULT_PAGE : undefined;
  if (first.value.kind === Kind.INT) return Math.min(Number(first.value.value), MAX_PAGE);
  return MAX_PAGE;
}

/**
 * The cost of a selection set; `fragment` finds a named fragment, `seen` stops a fragment cycle (invalid anyway);
 * `page`: the set is a page's, whose `items` are each one selection.
 */
export function selectionCost(set: SelectionSetNode | undefined, fragment: (name: string) => FragmentDefinitionNode | undefined | null, seen = new Set<string>(), page?: number): number {
  if (!set) return 0;
  let cost = 0;
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD) {
      const size = pageSize(s);
      const inner = selectionCost(s.selectionSet, fragment, seen, size);
      const own = 1 + (s.name.value === "totalCount" ? TOTAL_COUNT : 0) + (s.name.value === "account" && s.selectionSet ? ACCOUNT_LOAD : 0);
      cost += own + (page !== undefined && s.name.value === "items" ? page * inner : inner);
    } else if (s.kind === Kind.INLINE_FRAGMENT) {
      cost += selectionCost(s.selectionSet, fragment, seen, page);
    } else {
      const name = s.name.value;
      if (seen.has(name)) continue;
      cost += selectionCost(fragment(name)?.selectionSet, fragment, new Set([...seen, name]), page);
    }
  }
  return cost;
}

/** The validation rule: every operation of the document, summed, against the limit. */
export function queryCostRule(limit: number): (context: ValidationContext) => ASTVisitor {
  return (context) => {
    let total = 0;
    return {
      OperationDefinition(node) {
        total += selectionCost(node.selectionSet, (name) => context.getFragment(name));
      },
      Document: {
        leave() {
          if (total > limit) {
            context.reportError(
              new GraphQLError(`query cost ${total} exceeds the limit of ${limit} (SALVAGE_MAX_QUERY_COST): a list costs its first × its selection, totalCount ${TOTAL_COUNT}, an account ${ACCOUNT_LOAD}`, {
                extensions: { code: "QUERY_TOO_COSTLY", cost: total, limit, variable: "SALVAGE_MAX_QUERY_COST" },
              }),
            );
          }
        },
      },
    };
  };
}

/** The yoga plugin that adds the rule with the process's limit. */
export const queryCostLimit: Plugin = {
  onValidate: ({ addValidationRule }) => {
    addValidationRule(queryCostRule(apiLimits().maxQueryCost));
  },
};
