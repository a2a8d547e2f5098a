//! /investments/holdings/get and /liabilities/get. The sandbox item's investment (IRA) and
//! liability (credit card, student loan, mortgage) accounts are derived from its item id and
//! listed only in these answers.

use serde_json::{json, Value};

use super::super::super::errors::PlaidError;
use super::super::super::state::Item;
use super::super::item::item_json;
use super::super::{Body, Ctx};
use super::{derived_id, digits, usable_item};

/// A derived account: (kind key, name, type, subtype, mask, current balance).
type Derived = (&'static str, &'static str, &'static str, &'static str, &'static str, f64);

const IRA: Derived = ("ira", "Plaid IRA", "investment", "ira", "5555", 320.76);
const CREDIT: Derived = ("credit", "Plaid Credit Card", "credit", "credit card", "3333", 410.0);
const STUDENT: Derived = ("student", "Plaid Student Loan", "loan", "student", "6666", 65262.0);
const MORTGAGE: Derived = ("mortgage", "Plaid Mortgage", "loan", "mortgage", "8888", 56302.06);

fn account_id(item: &Item, kind: &str) -> String {
    derived_id(&format!("{}:{kind}", item.item_id))
}

fn account_json(item: &Item, derived: Derived) -> Value {
    let (kind, name, account_type, subtype, mask, current) = derived;
    let mut account = json!({
        "account_id": account_id(item, kind),
        "balances": {
            "available": null,
            "current": current,
            "limit": if kind == "credit" { json!(2000.0) } else { Value::Null },
            "iso_currency_code": "USD",
            "unofficial_currency_code": null,
            "last_updated_datetime": null,
        },
        "mask": mask,
        "name": name,
        "official_name": null,
        "type": account_type,
        "subtype": subtype,
    });
    if account_type == "investment" {
        // InvestmentAccountBalance requires it (nullable).
        account["balances"]["margin_loan_amount"] = json!(0.0);
    }
    account
}

/// The wanted accounts among `candidates`: all, or those `options.account_ids` names (an id
/// that is not one of them is Plaid's INVALID_ACCOUNT_ID).
fn wanted(item: &Item, body: &Body, candidates: &[Derived]) -> Result<Vec<Derived>, PlaidError> {
    let Some(ids) = body.get("options").and_then(|o| o.get("account_ids")).and_then(Value::as_array) else {
        return Ok(candidates.to_vec());
    };
    let ids: Vec<&str> = ids.iter().filter_map(Value::as_str).collect();
    if ids.iter().any(|id| candidates.iter().all(|c| account_id(item, c.0) != *id)) {
        return Err(PlaidError::invalid_account_id());
    }
    Ok(candidates.iter().copied().filter(|c| ids.contains(&account_id(item, c.0).as_str())).collect())
}

/// One security every sandbox IRA holds.
struct Security {
    seed: &'static str,
    name: &'static str,
    ticker: Option<&'static str>,
    kind: &'static str,
    price: f64,
    quantity: f64,
    cost_basis: f64,
}

const SECURITIES: [Security; 3] = [
    Security {
        seed: "cash",
        name: "U S Dollar",
        ticker: None,
        kind: "cash",
        price: 1.0,
        quantity: 12.0,
        cost_basis: 12.0,
    },
    Security {
        seed: "vti",
        name: "Vanguard Total Stock Market ETF",
        ticker: Some("VTI"),
        kind: "etf",
        price: 27.73,
        quantity: 7.0,
        cost_basis: 180.5,
    },
    Security {
        seed: "nflx",
        name: "Netflix Inc",
        ticker: Some("NFLX"),
        kind: "equity",
        price: 10.42,
        quantity: 5.0,
        cost_basis: 50.0,
    },
];

pub fn investments_holdings_get(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let item = usable_item(ctx, body)?;
    let accounts = wanted(item, body, &[IRA])?;
    let mut holdings = Vec::new();
    let mut securities = Vec::new();
    let date = item.created_at.date().to_string();
    for Security { seed, name, ticker, kind: security_type, price, quantity, cost_basis } in SECURITIES {
        let security_id = derived_id(&format!("security:{seed}"));
        securities.push(json!({
            "security_id": security_id,
            "isin": null, "cusip": null, "sedol": null, "figi": null,
            "institution_security_id": null, "institution_id": null, "proxy_security_id": null,
            "name": name,
            "ticker_symbol": ticker,
            "is_cash_equivalent": security_type == "cash",
            "type": security_type,
            "close_price": price,
            "close_price_as_of": date,
            "iso_currency_code": "USD",
            "unofficial_currency_code": null,
            "market_identifier_code": null,
            "sector": null, "industry": null, "cfi_code": null,
            "option_contract": null, "fixed_income": null,
        }));
        for account in &accounts {
            holdings.push(json!({
                "account_id": account_id(item, account.0),
                "security_id": security_id,
                "institution_price": price,
                "institution_price_as_of": date,
                "institution_value": (price * quantity * 100.0).round() / 100.0,
                "cost_basis": cost_basis,
                "quantity": quantity,
                "iso_currency_code": "USD",
                "unofficial_currency_code": null,
            }));
        }
    }
    let accounts: Vec<Value> = accounts.into_iter().map(|a| account_json(item, a)).collect();
    Ok(json!({"accounts": accounts, "holdings": holdings, "securities": securities, "item": item_json(item)}))
}

fn address(street: &str) -> Value {
    json!({"street": street, "city": "San Matias", "region": "CA", "postal_code": "99415", "country": "US"})
}

fn liability(item: &Item, derived: Derived, date: &str) -> Value {
    let id = account_id(item, derived.0);
    match derived.0 {
        "credit" => json!({
            "account_id": id,
            "aprs": [{"apr_percentage": 15.24, "apr_type": "purchase_apr",
                      "balance_subject_to_apr": 1562.32, "interest_charge_amount": 130.22}],
            "is_overdue": false,
            "last_payment_amount": 168.25,
            "last_payment_date": date,
            "last_statement_issue_date": date,
            "last_statement_balance": 1708.77,
            "minimum_payment_amount": 20.0,
            "next_payment_due_date": date,
        }),
        "student" => json!({
            "account_id": id,
            "account_number": format!("4277{}", digits(&id, 6)),
            "disbursement_dates": [date],
            "expected_payoff_date": date,
            "guarantor": "DEPT OF ED",
            "interest_rate_percentage": 5.25,
            "is_overdue": false,
            "last_payment_amount": 138.05,
            "last_payment_date": date,
            "last_statement_balance": 1955.0,
            "last_statement_issue_date": date,
            "loan_name": "Consolidation",
            "loan_status": {"end_date": date, "type": "repayment"},
            "minimum_payment_amount": 25.0,
            "next_payment_due_date": date,
            "origination_date": date,
            "origination_principal_amount": 25000.0,
            "outstanding_interest_amount": 6227.36,
            "payment_reference_number": format!("4277{}", digits(&id, 6)),
            "pslf_status": {"estimated_eligibility_date": date, "payments_made": 200, "payments_remaining": 160},
            "repayment_plan": {"description": "Standard Repayment", "type": "standard"},
            "sequence_number": "1",
            "servicer_address": address("123 Main St"),
            "ytd_interest_paid": 280.55,
            "ytd_principal_paid": 271.65,
        }),
        _ => json!({
            "account_id": id,
            "account_number": format!("3120{}", digits(&id, 6)),
            "current_late_fee": 25.0,
            "escrow_balance": 3141.54,
            "has_pmi": true,
            "has_prepayment_penalty": true,
            "interest_rate": {"percentage": 3.99, "type": "fixed"},
            "last_payment_amount": 3141.54,
            "last_payment_date": date,
            "loan_type_description": "conventional",
            "loan_term": "30 year",
            "maturity_date": date,
            "next_monthly_payment": 3141.54,
            "next_payment_due_date": date,
            "origination_date": date,
            "origination_principal_amount": 425000.0,
            "past_due_amount": 2304.0,
            "property_address": address("2992 Cameron Road"),
            "ytd_interest_paid": 12300.4,
            "ytd_principal_paid": 12340.5,
        }),
    }
}

pub fn liabilities_get(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let item = usable_item(ctx, body)?;
    let accounts = wanted(item, body, &[CREDIT, STUDENT, MORTGAGE])?;
    let date = item.created_at.date().to_string();
    let of_kind = |kind: &str| -> Vec<Value> {
        accounts.iter().filter(|a| a.0 == kind).map(|a| liability(item, *a, &date)).collect()
    };
    let liabilities =
        json!({"credit": of_kind("credit"), "student": of_kind("student"), "mortgage": of_kind("mortgage")});
    let accounts: Vec<Value> = accounts.iter().map(|a| account_json(item, *a)).collect();
    Ok(json!({"accounts": accounts, "liabilities": liabilities, "item": item_json(item)}))
}
