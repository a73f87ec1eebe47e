"""The part of Shopify's GraphQL Admin API the Shopify stand-in answers, as a real schema.

The schema is a faithful subset of Shopify's own (type, field and argument names as in the
Admin API reference): reading an order's fulfillment orders and fulfillments, and the
`fulfillmentCreate` mutation. graphql-core parses, validates and executes queries against it,
so a client that asks for a field Shopify does not have gets a GraphQL error here too.

Query cost follows Shopify's published method: a scalar or enum costs 0, an object 1, a
connection 2 plus `first` times the cost of one node, a mutation 10. The stand-in charges the
requested cost (Shopify later refunds what the answer did not use; this stand-in does not).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    build_schema,
    get_named_type,
)

if TYPE_CHECKING:
    from dropship_simulator.shopify_state import ShopState

SDL = """
scalar DateTime
scalar URL
scalar UnsignedInt64

interface Node { id: ID! }

type QueryRoot {
  order(id: ID!): Order
  fulfillmentOrder(id: ID!): FulfillmentOrder
  node(id: ID!): Node
  shop: Shop!
}

type Mutation {
  fulfillmentCreate(fulfillment: FulfillmentInput!, message: String): FulfillmentCreatePayload
}

type Shop { name: String!  myshopifyDomain: String! }

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

enum OrderDisplayFinancialStatus {
  PENDING AUTHORIZED PARTIALLY_PAID PARTIALLY_REFUNDED VOIDED PAID REFUNDED EXPIRED
}
enum OrderDisplayFulfillmentStatus {
  UNFULFILLED PARTIALLY_FULFILLED FULFILLED RESTOCKED PENDING_FULFILLMENT OPEN IN_PROGRESS
  ON_HOLD SCHEDULED REQUEST_DECLINED
}
enum FulfillmentOrderStatus {
  OPEN IN_PROGRESS CANCELLED INCOMPLETE CLOSED SCHEDULED ON_HOLD
}
enum FulfillmentStatus { PENDING OPEN SUCCESS CANCELLED ERROR FAILURE }

type Order implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  createdAt: DateTime!
  updatedAt: DateTime!
  cancelledAt: DateTime
  displayFinancialStatus: OrderDisplayFinancialStatus
  displayFulfillmentStatus: OrderDisplayFulfillmentStatus!
  lineItems(first: Int, after: String): LineItemConnection!
  fulfillmentOrders(
    first: Int, after: String, displayable: Boolean = false
  ): FulfillmentOrderConnection!
  fulfillments(first: Int): [Fulfillment!]!
}

type LineItem implements Node {
  id: ID!
  sku: String
  name: String!
  title: String!
  quantity: Int!
  currentQuantity: Int!
  requiresShipping: Boolean!
}
type LineItemEdge { cursor: String!  node: LineItem! }
type LineItemConnection { edges: [LineItemEdge!]!  nodes: [LineItem!]!  pageInfo: PageInfo! }

type Location { id: ID!  name: String! }
type FulfillmentOrderAssignedLocation { name: String!  location: Location }

type FulfillmentOrder implements Node {
  id: ID!
  status: FulfillmentOrderStatus!
  createdAt: DateTime!
  updatedAt: DateTime!
  orderId: ID!
  orderName: String!
  assignedLocation: FulfillmentOrderAssignedLocation!
  lineItems(first: Int, after: String): FulfillmentOrderLineItemConnection!
}
type FulfillmentOrderEdge { cursor: String!  node: FulfillmentOrder! }
type FulfillmentOrderConnection {
  edges: [FulfillmentOrderEdge!]!
  nodes: [FulfillmentOrder!]!
  pageInfo: PageInfo!
}

type FulfillmentOrderLineItem implements Node {
  id: ID!
  sku: String
  totalQuantity: Int!
  remainingQuantity: Int!
  lineItem: LineItem!
}
type FulfillmentOrderLineItemEdge { cursor: String!  node: FulfillmentOrderLineItem! }
type FulfillmentOrderLineItemConnection {
  edges: [FulfillmentOrderLineItemEdge!]!
  nodes: [FulfillmentOrderLineItem!]!
  pageInfo: PageInfo!
}

type FulfillmentTrackingInfo { company: String  number: String  url: URL }

type FulfillmentLineItem implements Node { id: ID!  quantity: Int  lineItem: LineItem! }
type FulfillmentLineItemEdge { cursor: String!  node: FulfillmentLineItem! }
type FulfillmentLineItemConnection {
  edges: [FulfillmentLineItemEdge!]!
  nodes: [FulfillmentLineItem!]!
  pageInfo: PageInfo!
}

type Fulfillment implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  status: FulfillmentStatus!
  createdAt: DateTime!
  trackingInfo(first: Int): [FulfillmentTrackingInfo!]!
  fulfillmentLineItems(first: Int, after: String): FulfillmentLineItemConnection!
}

type UserError { field: [String!]  message: String! }
type FulfillmentCreatePayload { fulfillment: Fulfillment  userErrors: [UserError!]! }

input FulfillmentOrderLineItemInput { id: ID!  quantity: Int! }
input FulfillmentOrderLineItemsInput {
  fulfillmentOrderId: ID!
  fulfillmentOrderLineItems: [FulfillmentOrderLineItemInput!]
}
input FulfillmentTrackingInput {
  company: String
  number: String
  numbers: [String!]
  url: URL
  urls: [URL!]
}
input FulfillmentOriginAddressInput {
  address1: String
  address2: String
  city: String
  countryCode: String!
  provinceCode: String
  zip: String
}
input FulfillmentInput {
  lineItemsByFulfillmentOrder: [FulfillmentOrderLineItemsInput!]!
  notifyCustomer: Boolean = false
  trackingInfo: FulfillmentTrackingInput
  originAddress: FulfillmentOriginAddressInput
}

schema { query: QueryRoot  mutation: Mutation }
"""

MUTATION_COST = 10
SINGLE_QUERY_MAX_COST = 1000
DEFAULT_PAGE = 10  # Shopify requires `first` or `last` on connections; unsized lists count as 10


def connection(
    items: list[Any], first: int | None, cursor_of: Callable[[Any], str]
) -> dict[str, Any]:
    """A Relay connection of `items` (already in order), cut at `first`."""
    page = items if first is None else items[: max(0, first)]
    return {
        "nodes": page,
        "edges": [{"cursor": cursor_of(item), "node": item} for item in page],
        "pageInfo": {
            "hasNextPage": len(page) < len(items),
            "hasPreviousPage": False,
            "startCursor": cursor_of(page[0]) if page else None,
            "endCursor": cursor_of(page[-1]) if page else None,
        },
    }


def build_admin_schema(state: ShopState) -> GraphQLSchema:
    """The schema with resolvers bound to one shop's state."""
    schema = build_schema(SDL)

    def field(type_name: str, name: str) -> Any:
        graphql_type = schema.get_type(type_name)
        assert isinstance(graphql_type, GraphQLObjectType)
        return graphql_type.fields[name]

    def arg(info: GraphQLResolveInfo, kwargs: Mapping[str, Any], name: str) -> Any:
        del info
        return kwargs.get(name)

    field("QueryRoot", "order").resolve = lambda _, info, **kw: state.gql_order(arg(info, kw, "id"))
    field("QueryRoot", "fulfillmentOrder").resolve = lambda _, info, **kw: (
        state.gql_fulfillment_order(arg(info, kw, "id"))
    )
    field("QueryRoot", "node").resolve = lambda _, info, **kw: state.gql_node(arg(info, kw, "id"))
    field("QueryRoot", "shop").resolve = lambda _, info: state.gql_shop()
    field("Mutation", "fulfillmentCreate").resolve = lambda _, info, **kw: (
        state.gql_fulfillment_create(kw["fulfillment"], kw.get("message"))
    )

    def cut(key: str) -> Callable[..., Any]:
        def resolve(parent: Mapping[str, Any], info: GraphQLResolveInfo, **kw: Any) -> Any:
            del info
            items = list(parent[key])
            return connection(items, kw.get("first"), lambda item: str(item["id"]))

        return resolve

    def cut_list(key: str) -> Callable[..., Any]:
        def resolve(parent: Mapping[str, Any], info: GraphQLResolveInfo, **kw: Any) -> Any:
            del info
            items = list(parent[key])
            first = kw.get("first")
            return items if first is None else items[:first]

        return resolve

    field("Order", "lineItems").resolve = cut("lineItems")
    field("Order", "fulfillmentOrders").resolve = cut("fulfillmentOrders")
    field("Order", "fulfillments").resolve = cut_list("fulfillments")
    field("FulfillmentOrder", "lineItems").resolve = cut("lineItems")
    field("Fulfillment", "trackingInfo").resolve = cut_list("trackingInfo")
    field("Fulfillment", "fulfillmentLineItems").resolve = cut("fulfillmentLineItems")

    # `node` and the Node interface: the concrete type is named by the gid.
    node = schema.get_type("Node")
    node.resolve_type = lambda value, info, abstract: value["__typename"]  # type: ignore[union-attr]
    return schema


# -- query cost ----------------------------------------------------------------------------------


class CostCalculator:
    """Shopify's requested query cost of one operation (static, from the query alone)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._variables = variables

    def operation(self, operation: OperationDefinitionNode) -> int:
        if operation.operation == OperationType.MUTATION:
            return MUTATION_COST  # whatever the payload selects
        root_query = self._schema.query_type
        assert root_query is not None
        return self._selection(operation.selection_set, root_query)

    def _selection(self, selection_set: SelectionSetNode | None, parent: Any) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    target = self._schema.get_type(selection.type_condition.name.value) or parent
                total += self._selection(selection.selection_set, target)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self._fragments.get(selection.name.value)
                if fragment is not None:
                    target = self._schema.get_type(fragment.type_condition.name.value) or parent
                    total += self._selection(fragment.selection_set, target)
        return total

    def _field(self, node: FieldNode, parent: Any) -> int:
        fields = getattr(parent, "fields", None)
        if not fields or node.name.value not in fields:
            return 0  # __typename and friends
        definition = fields[node.name.value]
        named = get_named_type(definition.type)
        if not isinstance(named, GraphQLObjectType) and not hasattr(named, "fields"):
            return 0  # scalars and enums are free
        child = self._selection(node.selection_set, named)
        if named.name.endswith("Connection"):
            return 2 + self._first(node) * self._node_cost(node, named)
        if _is_list(definition.type):
            return self._first(node) * max(1, child + 1)
        return 1 + child

    def _node_cost(self, node: FieldNode, connection_type: Any) -> int:
        """The cost of one element of a connection: its `nodes` or its `edges { node }`."""
        if node.selection_set is None:
            return 1
        cost = 0
        for selection in node.selection_set.selections:
            if not isinstance(selection, FieldNode):
                continue
            if selection.name.value == "nodes":
                item = get_named_type(connection_type.fields["nodes"].type)
                cost = max(cost, 1 + self._selection(selection.selection_set, item))
            elif selection.name.value == "edges":
                edge = get_named_type(connection_type.fields["edges"].type)
                cost = max(cost, self._selection(selection.selection_set, edge))
        return max(cost, 1)

    def _first(self, node: FieldNode) -> int:
        for argument in node.arguments or ():  # graphql-core 3.3: None when there are none
            if argument.name.value in ("first", "last"):
                value = argument.value
                if isinstance(value, IntValueNode):
                    return int(value.value)
                if isinstance(value, VariableNode):
                    given = self._variables.get(value.name.value)
                    if isinstance(given, int):
                        return given
        return DEFAULT_PAGE


def _is_list(graphql_type: Any) -> bool:
    while isinstance(graphql_type, GraphQLNonNull):
        graphql_type = graphql_type.of_type
    return isinstance(graphql_type, GraphQLList)
