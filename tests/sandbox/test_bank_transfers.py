"""Bank transfers and bank transactions on bank and clearing accounts, with Xero's rules."""

from __future__ import annotations

from datetime import date

from support.sandbox_money import Money

from pm_xero_plugin.sandbox import Sandbox


def test_a_transfer_from_clearing_to_bank_records_both_sides_as_bank_transactions(
    money: Money,
) -> None:
    made = money.ok(money.transfer("093", "090", "970.50", Date="2024-03-04"), "BankTransfers")
    assert made["Amount"] == 970.5
    assert made["FromBankAccount"]["Code"] == "093"
    assert made["ToBankAccount"]["Code"] == "090"
    assert made["Reference"] == "PO1"
    assert made["DateString"].startswith("2024-03-04")
    assert made["CreatedDateUTC"].startswith("/Date(")
    spend = money.api.get(f"/BankTransactions/{made['FromBankTransactionID']}").json()
    receive = money.api.get(f"/BankTransactions/{made['ToBankTransactionID']}").json()
    [spend_txn], [receive_txn] = spend["BankTransactions"], receive["BankTransactions"]
    assert (spend_txn["Type"], spend_txn["BankAccount"]["Code"], spend_txn["Total"]) == (
        "SPEND-TRANSFER",
        "093",
        970.5,
    )
    assert (receive_txn["Type"], receive_txn["BankAccount"]["Code"], receive_txn["Total"]) == (
        "RECEIVE-TRANSFER",
        "090",
        970.5,
    )


def test_transfers_are_read_back_by_id_and_found_by_reference(money: Money) -> None:
    first = money.ok(money.transfer("093", "090", "10", reference="PO1"), "BankTransfers")
    money.ok(money.transfer("092", "091", "20", reference="PO2"), "BankTransfers")
    one = money.api.get(f"/BankTransfers/{first['BankTransferID']}").json()["BankTransfers"]
    assert [t["Reference"] for t in one] == ["PO1"]
    found = money.api.get("/BankTransfers", where='Reference=="PO2"').json()["BankTransfers"]
    assert [(t["Reference"], t["Amount"]) for t in found] == [("PO2", 20)]
    assert len(money.api.get("/BankTransfers").json()["BankTransfers"]) == 2


def test_transfer_accounts_may_be_named_by_account_id_and_the_date_defaults_to_today(
    money: Money,
) -> None:
    bank = money.api.get("/Accounts/090").json()["Accounts"][0]
    element = {
        "FromBankAccount": {"Code": "093"},
        "ToBankAccount": {"AccountID": bank["AccountID"]},
        "Amount": 5,
    }
    made = money.ok(money.put("/BankTransfers", "BankTransfers", element), "BankTransfers")
    assert made["ToBankAccount"]["Code"] == "090"
    assert made["DateString"].startswith("2024-03-01")  # the sandbox clock's day


def test_a_transfer_needs_two_different_bank_or_clearing_accounts(money: Money) -> None:
    assert money.errors(money.transfer("090", "090", "10"), "BankTransfers") == [
        "The FromBankAccount and ToBankAccount must be different accounts."
    ]
    # 610 is a current asset without payments; 095 takes payments but is a liability
    for code in ("200", "610", "095"):
        messages = money.errors(money.transfer(code, "090", "10"), "BankTransfers")
        assert messages == [
            f"Account code '{code}' is not a bank account. FromBankAccount must be a bank "
            "account, or a current asset account with payments enabled."
        ]
    assert money.errors(money.transfer("090", "999", "10"), "BankTransfers") == [
        "A valid ToBankAccount must be specified"
    ]
    assert money.api.get("/BankTransfers").json()["BankTransfers"] == []


def test_a_transfer_must_move_a_positive_amount_and_reports_every_refusal_together(
    money: Money,
) -> None:
    assert money.errors(money.transfer("093", "090", "0"), "BankTransfers") == [
        "The Amount must be greater than zero."
    ]
    assert money.errors(money.transfer("200", "090", "-5"), "BankTransfers") == [
        "Account code '200' is not a bank account. FromBankAccount must be a bank account, or "
        "a current asset account with payments enabled.",
        "The Amount must be greater than zero.",
    ]
    assert money.api.get("/BankTransactions").json()["BankTransactions"] == []


def test_a_transfer_dated_in_a_locked_period_is_refused(money: Money, checked: Sandbox) -> None:
    checked.faults(money.api.tenant).lock_date = date(2024, 2, 29)
    messages = money.errors(money.transfer("093", "090", "10", Date="2024-02-29"), "BankTransfers")
    assert messages == [
        "The document date cannot be before the period lock date, currently set at 29-Feb-2024"
    ]
    money.ok(money.transfer("093", "090", "10", Date="2024-03-01"), "BankTransfers")


def test_a_transfer_replayed_with_its_idempotency_key_is_made_once(
    money: Money, checked: Sandbox
) -> None:
    key = {"Idempotency-Key": "transfer-po1"}
    first = money.transfer("093", "090", "10", headers=key)
    again = money.transfer("093", "090", "10", headers=key)
    assert again.headers["X-Sandbox-Replay"] == "true"
    assert (
        again.json()["BankTransfers"][0]["BankTransferID"]
        == (first.json()["BankTransfers"][0]["BankTransferID"])
    )
    assert len(checked.org(money.api.tenant).bank_transfers) == 1
    assert len(checked.org(money.api.tenant).bank_transactions) == 2


def test_spend_and_receive_may_use_a_clearing_account_and_keep_their_reference(
    money: Money,
) -> None:
    stripe = money.contact("Stripe", "STRIPE")
    fee = money.ok(
        money.receipt("SPEND", stripe, "29.50", bank="093", account="406", Reference="PO1"),
        "BankTransactions",
    )
    assert (fee["Type"], fee["BankAccount"]["Code"], fee["Total"]) == ("SPEND", "093", 29.5)
    assert fee["Reference"] == "PO1"
    found = money.api.get("/BankTransactions", where='Reference=="PO1" AND Type=="SPEND"')
    assert [t["BankTransactionID"] for t in found.json()["BankTransactions"]] == [
        fee["BankTransactionID"]
    ]
    money.ok(money.receipt("RECEIVE", stripe, "5", bank="093", account="260"), "BankTransactions")


def test_a_bank_transaction_needs_a_contact_and_a_bank_or_clearing_account(money: Money) -> None:
    txn = {
        "Type": "SPEND",
        "BankAccount": {"Code": "093"},
        "LineAmountTypes": "NoTax",
        "LineItems": [
            {"Description": "fees", "Quantity": 1, "UnitAmount": 3, "AccountCode": "406"}
        ],
    }
    assert money.errors(
        money.put("/BankTransactions", "BankTransactions", txn), "BankTransactions"
    ) == ["A Contact must be specified for this type of transaction"]
    txn["Contact"] = {"Name": "Stripe"}
    txn["BankAccount"] = {"Code": "610"}
    assert money.errors(
        money.put("/BankTransactions", "BankTransactions", txn), "BankTransactions"
    ) == [
        "Account code '610' is not a bank account. BankAccount must be a bank account, or a "
        "current asset account with payments enabled."
    ]


def test_a_transfer_between_accounts_in_two_currencies_is_refused(
    money: Money, checked: Sandbox
) -> None:
    usd = checked.org(money.api.tenant).account(code="091")
    assert usd is not None
    usd["CurrencyCode"] = "USD"
    assert money.errors(money.transfer("090", "091", "10"), "BankTransfers") == [
        "The FromBankAccount and ToBankAccount must be in the same currency for this transfer."
    ]


def test_a_bank_transaction_in_another_currency_is_refused(money: Money) -> None:
    stripe = money.contact("Stripe", "STRIPE")
    resp = money.receipt("SPEND", stripe, "3", bank="093", account="406", CurrencyCode="USD")
    assert money.errors(resp, "BankTransactions") == [
        "The currency USD is not set up in this organisation."
    ]
