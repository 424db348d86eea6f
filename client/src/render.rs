//! Terminal rendering of the report, receivables and objections: amounts
//! with thousands separators, and columns aligned by display width so that
//! Chinese names (two columns a character) keep the table straight.

use serde_json::Value;
use unicode_width::UnicodeWidthStr;

/// A JSON value as a cell: strings bare, null as `-`.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Fen as yuan with thousands separators: `123456789` is `1,234,567.89`.
pub fn yuan(fen: u64) -> String {
    deltachain_protocol::format_yuan(fen)
}

/// A JSON amount in fen as yuan, `-` when absent.
pub fn amount(v: &Value) -> String {
    v.as_u64().map(yuan).unwrap_or_else(|| "-".into())
}

/// Pads `s` on the right to `width` display columns.
pub fn pad(s: &str, width: usize) -> String {
    format!("{s}{}", " ".repeat(width.saturating_sub(s.width())))
}

/// Pads `s` on the left to `width` display columns (for amounts).
pub fn pad_left(s: &str, width: usize) -> String {
    format!("{}{s}", " ".repeat(width.saturating_sub(s.width())))
}

/// An aligned table, two spaces indented; columns whose header ends in
/// `(CNY)` or `#` are right-aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(widths.len()) {
            widths[i] = widths[i].max(c.width());
        }
    }
    let right: Vec<bool> = headers
        .iter()
        .map(|h| h.ends_with("(CNY)") || *h == "#")
        .collect();
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if right[i] {
                    pad_left(c, widths[i])
                } else {
                    pad(c, widths[i])
                }
            })
            .collect();
        format!("  {}", parts.join("  ").trim_end())
    };
    let mut out = vec![line(
        &headers.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
    )];
    out.push(line(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    ));
    for r in rows {
        out.push(line(r));
    }
    out
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// One line per financing state of a receivable.
fn financing(r: &Value) -> String {
    let f = &r["financing"];
    if f.is_null() {
        "none".into()
    } else {
        format!(
            "{} {} to {} until {}",
            cell(&f["kind"]),
            amount(&f["amount_fen"]),
            cell(&f["financier"]["name"]),
            cell(&f["until"])
        )
    }
}

/// Rows of receivables for a table.
pub fn receivable_rows(rs: &[Value]) -> Vec<Vec<String>> {
    rs.iter()
        .map(|r| {
            let mut status = cell(&r["status"]);
            if r["disputed"] == Value::Bool(true) {
                status.push_str(", disputed");
            }
            vec![
                cell(&r["receivable_id"]),
                cell(&r["debtor"]),
                cell(&r["holder"]),
                amount(&r["amount_fen"]),
                amount(&r["balance_fen"]),
                amount(&r["financed_fen"]),
                cell(&r["due_on"]),
                financing(r),
                status,
            ]
        })
        .collect()
}

const RECEIVABLE_HEADERS: [&str; 9] = [
    "ID",
    "DEBTOR",
    "HOLDER",
    "FACE (CNY)",
    "BALANCE (CNY)",
    "FINANCED (CNY)",
    "DUE",
    "FINANCING",
    "STATUS",
];

/// A receivable with its history.
pub fn receivable(v: &Value) -> Vec<String> {
    let mut out = vec![format!(
        "Receivable {} ({}), as of height {}",
        cell(&v["receivable_id"]),
        cell(&v["status"]),
        cell(&v["as_of_height"])
    )];
    let field = |k: &str, val: String| format!("  {} {val}", pad(k, 12));
    out.push(field("creditor", cell(&v["creditor"])));
    out.push(field("debtor", cell(&v["debtor"])));
    out.push(field("holder", cell(&v["holder"])));
    out.push(field(
        "amount",
        format!("{} {}", amount(&v["amount_fen"]), cell(&v["currency"])),
    ));
    out.push(field(
        "balance",
        format!(
            "{} (settled {}, split off {})",
            amount(&v["balance_fen"]),
            amount(&v["settled_fen"]),
            amount(&v["split_fen"])
        ),
    ));
    out.push(field("financing", financing(v)));
    out.push(field(
        "dates",
        format!(
            "issued {}, due {}",
            cell(&v["issued_on"]),
            cell(&v["due_on"])
        ),
    ));
    let invoices: Vec<String> = list(&v["invoices"]).iter().map(cell).collect();
    if !invoices.is_empty() {
        out.push(field("invoices", invoices.join(", ")));
    }
    if !v["parent"].is_null() {
        out.push(field(
            "split from",
            format!("{} (root {})", cell(&v["parent"]), cell(&v["root"])),
        ));
    }
    let parts: Vec<String> = list(&v["parts"]).iter().map(cell).collect();
    if !parts.is_empty() {
        out.push(field("parts", parts.join(", ")));
    }
    if v["disputed"] == Value::Bool(true) {
        out.push(field(
            "disputed",
            format!("objection {}", cell(&v["objection"])),
        ));
    }
    let history = list(&v["history"]);
    if !history.is_empty() {
        let rows: Vec<Vec<String>> = history
            .iter()
            .map(|h| {
                let event = match &h["event"] {
                    Value::String(s) => s.clone(),
                    Value::Object(m) => m
                        .iter()
                        .map(|(k, d)| {
                            let detail: Vec<String> = d
                                .as_object()
                                .map(|o| {
                                    o.iter()
                                        .map(|(a, b)| {
                                            if a.ends_with("_fen") {
                                                format!(
                                                    "{}={}",
                                                    a.trim_end_matches("_fen"),
                                                    amount(b)
                                                )
                                            } else if let Value::Array(items) = b {
                                                let parts: Vec<String> = items
                                                    .iter()
                                                    .map(|p| match p.as_array() {
                                                        Some(t) if t.len() == 3 => format!(
                                                            "{}→{} {}",
                                                            cell(&t[0]),
                                                            cell(&t[1]),
                                                            amount(&t[2])
                                                        ),
                                                        _ => cell(p),
                                                    })
                                                    .collect();
                                                format!("{a}=[{}]", parts.join("; "))
                                            } else {
                                                format!("{a}={}", cell(b))
                                            }
                                        })
                                        .collect()
                                })
                                .unwrap_or_default();
                            format!("{k} {}", detail.join(" "))
                        })
                        .collect(),
                    other => other.to_string(),
                };
                vec![
                    cell(&h["height"]),
                    cell(&h["time"]),
                    cell(&h["sender"]["name"]),
                    event,
                ]
            })
            .collect();
        out.extend(table(&["HEIGHT", "TIME", "BY", "EVENT"], &rows));
    }
    out
}

/// Objections as a table.
pub fn objections(list_v: &[Value]) -> Vec<String> {
    let rows: Vec<Vec<String>> = list_v
        .iter()
        .map(|o| {
            let target = match &o["target"] {
                Value::Object(m) => m
                    .iter()
                    .map(|(k, v)| {
                        let t = cell(v);
                        let t = if t.len() == 64 {
                            format!("{}…", &t[..12])
                        } else {
                            t
                        };
                        format!("{k} {t}")
                    })
                    .collect(),
                other => cell(other),
            };
            let answer = if o["answer"].is_null() {
                "-".to_string()
            } else {
                let late = if o["answer"]["late"] == Value::Bool(true) {
                    " (late)"
                } else {
                    ""
                };
                format!("{}{late}", cell(&o["answer"]["outcome"]))
            };
            vec![
                cell(&o["objection_id"])
                    .chars()
                    .take(12)
                    .collect::<String>()
                    + "…",
                cell(&o["enterprise"]),
                target,
                cell(&o["reporter"]["name"]),
                cell(&o["deadline"]),
                cell(&o["status"]),
                answer,
                cell(&o["reason"]),
            ]
        })
        .collect();
    table(
        &[
            "OBJECTION",
            "ENTERPRISE",
            "RECORD",
            "REPORTER",
            "DEADLINE",
            "STATUS",
            "ANSWER",
            "REASON",
        ],
        &rows,
    )
}

fn public_summary(p: &Value) -> String {
    let d = &p["data"];
    let inner = d
        .as_object()
        .and_then(|m| m.values().next())
        .cloned()
        .unwrap_or(Value::Null);
    let Some(fields) = inner.as_object() else {
        return cell(d);
    };
    fields
        .iter()
        .map(|(k, v)| {
            if k.ends_with("_fen") {
                format!("{}={}", k.trim_end_matches("_fen"), amount(v))
            } else {
                format!("{k}={}", cell(v))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The enterprise report, for a terminal.
pub fn report(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let id = &v["identity"];
    out.push(format!(
        "Enterprise report {} as of height {} ({})",
        cell(&id["uscc"]),
        cell(&v["as_of_height"]),
        cell(&v["as_of"])
    ));
    out.push(format!(
        "  key on chain  {}",
        if id["bound_key"].is_null() {
            "none".to_string()
        } else {
            cell(&id["bound_key"])
        }
    ));
    if !id["exception"].is_null() {
        let e = &id["exception"];
        out.push(format!(
            "  exception     {}: admitted by {} at height {} ({})",
            cell(&e["name"]),
            cell(&e["admitted_by"]["name"]),
            cell(&e["height"]),
            cell(&e["reason"])
        ));
    }
    let c = &v["credit"];
    out.push(String::new());
    out.push(format!(
        "Credit: {} record(s), {} withdrawn, {} disputed",
        cell(&c["records"]),
        cell(&c["withdrawn"]),
        cell(&c["disputed"])
    ));
    let loans = list(&c["loans_outstanding"]);
    if !loans.is_empty() {
        let rows: Vec<Vec<String>> = loans
            .iter()
            .map(|l| {
                vec![
                    cell(&l["city"]),
                    cell(&l["bank"]),
                    cell(&l["loans"]),
                    amount(&l["outstanding_fen"]),
                    cell(&l["currency"]),
                ]
            })
            .collect();
        out.extend(table(
            &["CITY", "BANK", "#", "OUTSTANDING (CNY)", "CUR"],
            &rows,
        ));
    }
    for (label, key) in [
        ("overdue", "overdue"),
        ("default", "default"),
        ("guarantees", "guarantees"),
    ] {
        out.push(format!(
            "  {} {} totalling {}",
            pad(label, 11),
            cell(&c[key]["count"]),
            amount(&c[key]["sum_fen"])
        ));
    }
    for r in list(&c["latest_ratings"]) {
        out.push(format!(
            "  rating      {} by {} on {}",
            cell(&r["grade"]),
            cell(&r["agency"]),
            cell(&r["date"])
        ));
    }
    let pr = &v["public_records"];
    out.push(String::new());
    out.push(format!("Public records: {}", cell(&pr["total"])));
    if let Some(cats) = pr["by_category"].as_object() {
        let mut rows = Vec::new();
        for (cat, items) in cats {
            for p in list(items) {
                let mut status = cell(&p["status"]);
                if p["disputed"] == Value::Bool(true) {
                    status.push_str(", disputed");
                }
                rows.push(vec![
                    cat.clone(),
                    cell(&p["period"]),
                    public_summary(&p),
                    cell(&p["provider"]["name"]),
                    status,
                ]);
            }
        }
        if !rows.is_empty() {
            out.extend(table(
                &["CATEGORY", "PERIOD", "CONTENT", "PROVIDER", "STATUS"],
                &rows,
            ));
        }
    }
    let ip = &v["ip"];
    let owned = list(&ip["owned"]);
    out.push(String::new());
    out.push(format!(
        "IP: {} owned, {} pledged",
        owned.len(),
        cell(&ip["pledged"])
    ));
    if !owned.is_empty() {
        let rows: Vec<Vec<String>> = owned
            .iter()
            .map(|i| {
                let p = &i["active_pledge"];
                let pledge = if p.is_null() {
                    "none".into()
                } else {
                    format!(
                        "{} {} until {}",
                        cell(&p["pledgee"]),
                        amount(&p["amount_fen"]),
                        cell(&p["until"])
                    )
                };
                vec![
                    cell(&i["ip_id"]),
                    cell(&i["kind"]),
                    cell(&i["title"]),
                    pledge,
                ]
            })
            .collect();
        out.extend(table(&["IP", "KIND", "TITLE", "PLEDGE"], &rows));
    }
    out.push(String::new());
    let r = &v["receivables"];
    if r.is_null() {
        out.push(format!(
            "Receivables: withheld ({})",
            cell(&v["withheld"]["receivables"])
        ));
    } else {
        for (label, key) in [
            ("as creditor", "as_creditor"),
            ("as debtor", "as_debtor"),
            ("as holder", "as_holder"),
        ] {
            let t = &r["totals"][key];
            out.push(format!(
                "Receivables {label}: {}, balance {}, financed {}",
                cell(&t["count"]),
                amount(&t["balance_fen"]),
                amount(&t["financed_fen"])
            ));
            let items = list(&r[key]);
            if !items.is_empty() {
                out.extend(table(&RECEIVABLE_HEADERS, &receivable_rows(&items)));
            }
        }
    }
    let o = &v["objections"];
    let open = list(&o["open"]);
    let closed = list(&o["closed"]);
    out.push(String::new());
    out.push(format!(
        "Objections: {} open, {} closed",
        open.len(),
        closed.len()
    ));
    let all: Vec<Value> = open.into_iter().chain(closed).collect();
    if !all.is_empty() {
        out.extend(objections(&all));
    }
    out.push(String::new());
    out.push(format!(
        "Reads of its data in the last 90 days: {}{}",
        if v["queries"]["at_least"] == Value::Bool(true) {
            "at least "
        } else {
            ""
        },
        cell(&v["queries"]["last_90_days"])
    ));
    out
}

/// An enterprise's receivables.
pub fn receivables(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (label, key) in [
        ("as creditor", "as_creditor"),
        ("as debtor", "as_debtor"),
        ("as holder", "as_holder"),
    ] {
        let t = &v["totals"][key];
        out.push(format!(
            "{} {label}: {}, balance {}, financed {}",
            cell(&v["uscc"]),
            cell(&t["count"]),
            amount(&t["balance_fen"]),
            amount(&t["financed_fen"])
        ));
        let items = list(&v[key]);
        if !items.is_empty() {
            out.extend(table(&RECEIVABLE_HEADERS, &receivable_rows(&items)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_are_grouped() {
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(100_000), "1,000.00");
        assert_eq!(yuan(123_456_789), "1,234,567.89");
        assert_eq!(yuan(99_999), "999.99");
        assert_eq!(yuan(u64::MAX), "184,467,440,737,095,516.15");
    }

    #[test]
    fn chinese_text_keeps_columns_aligned() {
        let rows = vec![
            vec!["上海".into(), "bank-shanghai".into(), "1,000.00".into()],
            vec!["Hefei".into(), "合肥科技农商银行".into(), "12.00".into()],
        ];
        let lines = table(&["CITY", "BANK", "OUTSTANDING (CNY)"], &rows);
        let widths: Vec<usize> = lines.iter().map(|l| l.width()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{lines:#?}");
        // The amount column is right-aligned.
        assert!(lines[3].ends_with("    12.00"), "{lines:#?}");
    }

    #[test]
    fn a_report_renders_every_section() {
        let v = json!({
            "identity": {"uscc": "91350100M000100Y43", "bound_key": null, "exception": null},
            "credit": {"records": 2, "withdrawn": 0, "disputed": 1,
                "loans_outstanding": [{"city": "杭州", "bank": "bank-hangzhou", "loans": 1, "outstanding_fen": 500_000_000u64, "currency": "CNY"}],
                "overdue": {"count": 1, "sum_fen": 100}, "default": {"count": 0, "sum_fen": 0}, "guarantees": {"count": 0, "sum_fen": 0},
                "latest_ratings": [{"agency": "bank-shanghai", "grade": "AA", "date": "2026-10-01"}]},
            "public_records": {"total": 1, "by_category": {"tax_grade": [{"period": "2026-10", "data": {"tax_grade": {"grade": "A"}}, "provider": {"name": "tax-shanghai"}, "status": "active", "disputed": false}]}},
            "ip": {"owned": [], "pledged": 0},
            "receivables": null,
            "withheld": {"receivables": "needs consent"},
            "objections": {"open": [], "closed": []},
            "queries": {"last_90_days": 3, "at_least": false},
            "as_of_height": 9, "as_of": "2026-11-29T00:00:00.000Z"
        });
        let text = report(&v).join("\n");
        for want in [
            "5,000,000.00",
            "杭州",
            "grade=A",
            "withheld",
            "last 90 days: 3",
            "AA by bank-shanghai",
        ] {
            assert!(text.contains(want), "{want} missing in\n{text}");
        }
    }
}
