"""A Powens app's first journey against bankd, through pybudgea (the published Budgea/Powens 2.0 SDK).

Usage: python journey.py BASE_URL CLIENT_ID CLIENT_SECRET (crates/bankd/tests/api/powens_client.rs runs it)

Every answer goes through the SDK's own models, which validate types, required fields and nulls: an
answer that a generated client refuses fails the run. Where the SDK's generated methods lack a
parameter that Powens accepts (the credentials when creating a connection), the call goes through
the SDK's ApiClient with the SDK's model as the response type.

pybudgea was generated from a Budgea file older than Powens' current one; where the two disagree,
bankd follows Powens' current file (shared/api) and this script says so:
- its Transaction model knows 9 of Powens' 12 transaction types (not loan_payment, deferred_card,
  summary_card): the allowed list is widened to Powens' current one below;
- its Account model requires a `balance`, which bankd withholds from accounts the user has not
  consented to yet (GDPR; shared/api/accounts.md): the list of accounts to enable is read as plain
  JSON through the SDK's ApiClient, and every account is read through the model once enabled.
"""

import sys

import budgea
from budgea.api import AuthenticationApi, BanksApi, ConnectionsApi, UsersManagementApi
from budgea.models import transaction as transaction_model
from marshmallow import ValidationError, validates

SANDBOX_UUID = "338178e6-3d01-564f-9a7b-52ca442459bf"
POWENS_TRANSACTION_TYPES = ["transfer", "order", "check", "deposit", "payback", "withdrawal", "loan_payment",
                            "bank", "card", "deferred_card", "summary_card", "unknown"]


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


def accept_current_transaction_types():
    """pybudgea checks `type` against its older list; Powens' current file has three more."""
    class CurrentTransactionSchema(transaction_model.TransactionSchema):
        @validates("type")
        def validates_type(self, value):
            if value not in POWENS_TRANSACTION_TYPES:
                raise ValidationError(f"Invalid value for `type` ({value})")

    transaction_model.TransactionSchema = CurrentTransactionSchema


def main(base, client_id, client_secret):
    accept_current_transaction_types()
    config = budgea.Configuration()
    config.host = base.rstrip("/") + "/2.0"
    anonymous = budgea.ApiClient(config)

    init = AuthenticationApi(anonymous).auth_init_post(client_id=client_id, client_secret=client_secret)
    check(init.auth_token and init.type == "permanent", "POST /auth/init gives a permanent token")

    config.api_key["Authorization"] = init.auth_token
    config.api_key_prefix["Authorization"] = "Bearer"
    client = budgea.ApiClient(config)
    banks, connections, users = BanksApi(client), ConnectionsApi(client), UsersManagementApi(client)

    me = users.usersid_user_get("me")
    check(me.id > 0 and me.signin.year >= 2026, "GET /users/me")

    connectors = banks.connectors_get(expand="fields,sources").connectors
    sandbox = next(c for c in connectors if c.uuid == SANDBOX_UUID)
    check(sandbox.name == "Sandbox Bank" and sandbox.auth_mechanism == "credentials", "GET /connectors")
    legacy = banks.banks_get().banks
    check(any(b.id == sandbox.id for b in legacy), "GET /banks lists the same connectors")

    types = banks.account_types_get().accounttypes
    check(len(types) == 20 and {"checking", "savings", "card"} <= {t.name for t in types}, "20 account types")
    check(banks.account_typesid_account_type_get(types[0].id).name == types[0].name, "GET /account_types/{id}")

    connection = client.call_api(
        "/users/{id_user}/connections", "POST", path_params={"id_user": "me"},
        post_params=[("connector_uuid", SANDBOX_UUID), ("login", "demo"), ("password", "1234")],
        header_params={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
        response_type="Connection", auth_settings=["Authorization"], _return_http_data_only=True)
    check(connection.id > 0 and connection.error is None, "POST /users/me/connections connects demo")
    listed = connections.usersid_user_connections_get("me").connections
    check([c.id for c in listed] == [connection.id], "GET /users/me/connections lists it")

    discovered = client.call_api(
        "/users/{id_user}/accounts", "GET", path_params={"id_user": "me"}, query_params=[("all", "")],
        header_params={"Accept": "application/json"}, response_type="object",
        auth_settings=["Authorization"], _return_http_data_only=True)["accounts"]
    check(len(discovered) == 3 and all(a["disabled"] and a["balance"] is None for a in discovered),
          "3 accounts discovered disabled, without their balance")
    check(banks.usersid_user_accounts_get("me").accounts == [], "no account is listed before consent")

    for account in discovered:
        enabled = banks.usersid_user_accountsid_account_put("me", account["id"], disabled=False)
        check(enabled.disabled is None and enabled.balance is not None, f"account {enabled.id} enabled")

    accounts = banks.usersid_user_accounts_get("me").accounts
    check(len(accounts) == 3 and all(a.balance is not None and a.currency.id == "EUR" for a in accounts),
          "3 accounts with their balance")

    page = banks.usersid_user_transactions_get("me", limit=50)
    check(len(page.transactions) == 50, "GET /users/me/transactions?limit=50 gives a full page")
    seen = {t.id for t in page.transactions}
    second = banks.usersid_user_transactions_get("me", limit=50, offset=50).transactions
    check(second and seen.isdisjoint(t.id for t in second), "the next page holds other transactions")
    one = banks.usersid_user_accountsid_account_transactions_get("me", accounts[0].id, limit=10).transactions
    check(all(t.id_account == accounts[0].id for t in one), "one account's transactions")

    synced = connections.usersid_user_connectionsid_connection_put("me", connection.id)
    check(synced.id == connection.id, "PUT /users/me/connections/{id} syncs again")
    again = banks.usersid_user_transactions_get("me", limit=1000).transactions
    check(len(again) == len({t.id for t in again}), "a second sync duplicates nothing")


if __name__ == "__main__":
    main(*sys.argv[1:4])
