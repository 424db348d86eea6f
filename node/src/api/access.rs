//! Who may read what: the one place the API decides it.
//!
//! | caller                       | may read |
//! |------------------------------|----------|
//! | anyone, unsigned             | status, OpenAPI, validators, block headers, metrics |
//! | regulator                    | everything |
//! | validator operator           | blocks with bodies, any transaction and proof, events in full |
//! | any member                   | IP registry, member list, its own transactions, receipts and proofs |
//! | `credit_reporter`, `lender`, `reader` | records it reported itself (`?own=true`); an enterprise's records while it holds that enterprise's active consent for the signed purpose |
//! | an enterprise (its own key)  | its own records, its IP, its query log, its consents, the member list |
//!
//! Refusals say what is missing and never whether records exist.

use axum::http::StatusCode;
use deltachain_protocol::{AccessBasis, PublicKey, Purpose, Role, Scope};

use super::auth::{Caller, Principal};
use super::ApiError;

/// What a route is about to reveal.
#[derive(Debug, Clone)]
pub enum Resource<'a> {
    /// Block bodies (full blocks).
    BlockBodies,
    /// One transaction, its receipt or proof, by its sender.
    Transaction {
        /// The transaction's sender.
        sender: &'a PublicKey,
    },
    /// The member list.
    Members,
    /// An account (nonce, membership).
    Account {
        /// Whose.
        key: &'a PublicKey,
    },
    /// The IP registry entry of an IP right.
    Ip {
        /// Its owner.
        owner: &'a str,
    },
    /// An enterprise's credit records.
    EnterpriseRecords {
        /// The enterprise.
        uscc: &'a str,
    },
    /// The records of an enterprise the caller reported itself.
    OwnRecords {
        /// The enterprise.
        uscc: &'a str,
    },
    /// An enterprise's query log.
    QueryLog {
        /// The enterprise.
        uscc: &'a str,
    },
    /// The consents an enterprise gave.
    Consents {
        /// The enterprise.
        uscc: &'a str,
    },
    /// The queries one requester made.
    QueriesBy {
        /// The requester.
        requester: &'a PublicKey,
    },
    /// Every receipt on the event stream.
    AllEvents,
    /// An enterprise's receivables (as creditor, debtor or holder), or one
    /// receivable it is party to.
    Receivables {
        /// The enterprise.
        uscc: &'a str,
        /// True if the caller registered or finances the receivable read.
        involved: bool,
    },
    /// An objection.
    Objection {
        /// The enterprise objecting.
        enterprise: &'a str,
        /// True if the caller filed it or must answer it.
        involved: bool,
    },
    /// Lists across every enterprise (objections past their deadline).
    Supervision,
}

/// The facts a decision needs from the ledger.
pub trait Facts {
    /// The id of an active consent of `uscc` to `grantee` covering `scope`
    /// for `purpose`, judged at the latest committed block.
    fn active_consent(
        &self,
        uscc: &str,
        grantee: &PublicKey,
        scope: Scope,
        purpose: Purpose,
    ) -> Result<Option<String>, ApiError>;
}

/// A granted read: the ground, and the signed purpose if one was needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Why it was granted.
    pub basis: AccessBasis,
    /// The purpose given.
    pub purpose: Option<Purpose>,
}

fn grant(basis: AccessBasis) -> Result<Grant, ApiError> {
    Ok(Grant {
        basis,
        purpose: None,
    })
}

/// 401: the route needs a signed request.
pub fn signature_required() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "signature_required",
        "this route needs a request signed by a member or enterprise key (RFC 9421 Signature-Input and Signature headers); the deltachain CLI signs with --key FILE or DELTACHAIN_KEY",
    )
}

fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// Decides whether `caller` may read `what`.
pub fn decide(caller: &Caller, what: &Resource<'_>, facts: &dyn Facts) -> Result<Grant, ApiError> {
    let Some(p) = caller.0.as_deref() else {
        return Err(signature_required());
    };
    if p.is_regulator() {
        if let Resource::EnterpriseRecords { .. } | Resource::Receivables { .. } = what {
            let purpose = purpose(p)?;
            if purpose == Purpose::SelfInquiry {
                return Err(forbidden(
                    "purpose_not_allowed",
                    "self_inquiry is the purpose of an enterprise reading its own records; a regulator reads under supervision",
                ));
            }
            return Ok(Grant {
                basis: AccessBasis::Regulator,
                purpose: Some(purpose),
            });
        }
        return grant(AccessBasis::Regulator);
    }
    let is_member = p.member.is_some();
    let privileged = p.validator;
    match what {
        Resource::BlockBodies | Resource::AllEvents => {
            if privileged {
                grant(AccessBasis::None)
            } else {
                Err(forbidden(
                    "forbidden",
                    format!(
                        "{} may not read whole blocks or every receipt; regulators and validator operators may. Block headers are at the same route unsigned",
                        p.describe()
                    ),
                ))
            }
        }
        Resource::Transaction { sender } => {
            if privileged || *sender == &p.key {
                grant(AccessBasis::None)
            } else {
                Err(forbidden(
                    "not_your_transaction",
                    format!(
                        "{} may read only its own transactions, receipts and proofs",
                        p.describe()
                    ),
                ))
            }
        }
        Resource::Members => {
            // Enterprises too: an enterprise chooses whom to consent to.
            if is_member || privileged || p.enterprise.is_some() {
                grant(AccessBasis::None)
            } else {
                Err(forbidden(
                    "forbidden",
                    format!("{} may not list the members", p.describe()),
                ))
            }
        }
        Resource::Account { key } => {
            if is_member || privileged || *key == &p.key {
                grant(AccessBasis::None)
            } else {
                Err(forbidden(
                    "forbidden",
                    format!("{} may read only its own account", p.describe()),
                ))
            }
        }
        Resource::Ip { owner } => {
            if is_member || privileged || p.enterprise.as_deref() == Some(*owner) {
                grant(AccessBasis::None)
            } else {
                Err(forbidden(
                    "forbidden",
                    format!(
                        "{} may read only the IP it owns; the registry is open to members",
                        p.describe()
                    ),
                ))
            }
        }
        Resource::EnterpriseRecords { uscc } => {
            let purpose = purpose(p)?;
            if p.enterprise.as_deref() == Some(*uscc) {
                return Ok(Grant {
                    basis: AccessBasis::Enterprise,
                    purpose: Some(purpose),
                });
            }
            if purpose == Purpose::SelfInquiry {
                return Err(forbidden(
                    "purpose_not_allowed",
                    format!("self_inquiry is for enterprise {uscc} reading its own records"),
                ));
            }
            if purpose == Purpose::Supervision {
                return Err(forbidden(
                    "purpose_not_allowed",
                    "supervision is a regulator's purpose",
                ));
            }
            if ![Role::CreditReporter, Role::Lender, Role::Reader]
                .iter()
                .any(|r| p.has(*r))
            {
                return Err(forbidden(
                    "forbidden",
                    format!(
                        "{} may not read credit records; that takes the credit_reporter, lender or reader role",
                        p.describe()
                    ),
                ));
            }
            match facts.active_consent(uscc, &p.key, Scope::Credit, purpose)? {
                Some(consent_id) => Ok(Grant {
                    basis: AccessBasis::Consent { consent_id },
                    purpose: Some(purpose),
                }),
                None => Err(forbidden(
                    "consent_required",
                    format!(
                        "reading the records of enterprise {uscc} needs its consent: an active consent to {} with scope credit (or all) and purpose {purpose}. The enterprise signs one with `deltachain consent sign --enterprise-key FILE --grantee {} --scope credit --purpose {purpose} --until DATE --out consent.json`, and you submit it with `deltachain submit consent-grant --file consent.json`. Records you reported yourself are readable with ?own=true (`deltachain query enterprise {uscc} --own`)",
                        p.describe(),
                        p.key
                    ),
                )),
            }
        }
        Resource::OwnRecords { .. } => {
            if p.has(Role::CreditReporter) {
                Ok(Grant {
                    basis: AccessBasis::OwnRecords,
                    purpose: p.purpose.clone().and_then(Result::ok),
                })
            } else {
                Err(forbidden(
                    "forbidden",
                    format!(
                        "{} reports no credit records, so it has none of its own to read",
                        p.describe()
                    ),
                ))
            }
        }
        Resource::QueryLog { uscc } | Resource::Consents { uscc } => {
            if p.enterprise.as_deref() == Some(*uscc) {
                grant(AccessBasis::Enterprise)
            } else {
                Err(forbidden(
                    "forbidden",
                    format!(
                        "the query log and consents of enterprise {uscc} are for the enterprise itself and regulators"
                    ),
                ))
            }
        }
        Resource::Receivables { uscc, involved } => {
            let purpose = purpose(p)?;
            if p.enterprise.as_deref() == Some(*uscc) {
                return Ok(Grant {
                    basis: AccessBasis::Enterprise,
                    purpose: Some(purpose),
                });
            }
            if *involved {
                return Ok(Grant {
                    basis: AccessBasis::OwnRecords,
                    purpose: Some(purpose),
                });
            }
            if matches!(purpose, Purpose::SelfInquiry | Purpose::Supervision) {
                return Err(forbidden(
                    "purpose_not_allowed",
                    format!("{purpose} is not a member's purpose for reading receivables"),
                ));
            }
            if !is_member {
                return Err(forbidden(
                    "forbidden",
                    format!("{} may not read the receivables of {uscc}", p.describe()),
                ));
            }
            match facts.active_consent(uscc, &p.key, Scope::Receivables, purpose)? {
                Some(consent_id) => Ok(Grant {
                    basis: AccessBasis::Consent { consent_id },
                    purpose: Some(purpose),
                }),
                None => Err(forbidden(
                    "consent_required",
                    format!(
                        "reading the receivables of enterprise {uscc} needs its consent: an active consent to {} with scope receivables (or all) and purpose {purpose}. Receivables you registered or finance are readable by id",
                        p.describe()
                    ),
                )),
            }
        }
        Resource::Objection {
            enterprise,
            involved,
        } => {
            if *involved || p.enterprise.as_deref() == Some(*enterprise) {
                grant(AccessBasis::None)
            } else {
                Err(forbidden(
                    "forbidden",
                    "an objection is for the enterprise, the member that filed it, the reporter who answers it and regulators",
                ))
            }
        }
        Resource::Supervision => Err(forbidden(
            "forbidden",
            format!(
                "{} may not list across enterprises; regulators may",
                p.describe()
            ),
        )),
        Resource::QueriesBy { requester } => {
            if *requester == &p.key {
                grant(AccessBasis::None)
            } else {
                Err(forbidden(
                    "forbidden",
                    "only regulators may list another requester's queries",
                ))
            }
        }
    }
}

fn purpose(p: &Principal) -> Result<Purpose, ApiError> {
    match &p.purpose {
        Some(Ok(purpose)) => Ok(*purpose),
        Some(Err(e)) => Err(forbidden("unknown_purpose", e.clone())),
        None => Err(forbidden(
            "purpose_required",
            format!(
                "reads of enterprise data carry a purpose in the signed {} header: one of {}",
                deltachain_protocol::httpsig::PURPOSE_HEADER,
                Purpose::ALL
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltachain_protocol::{Keypair, Roles};

    use super::*;
    use crate::ledger::Member;

    const E: &str = "91350100M000100Y43";
    const OTHER: &str = "91110108551385082Q";

    struct World {
        /// (enterprise, grantee, purpose) with an active credit consent.
        consents: Vec<(&'static str, PublicKey, Purpose)>,
    }

    impl Facts for World {
        fn active_consent(
            &self,
            uscc: &str,
            grantee: &PublicKey,
            scope: Scope,
            purpose: Purpose,
        ) -> Result<Option<String>, ApiError> {
            assert_eq!(scope, Scope::Credit);
            Ok(self
                .consents
                .iter()
                .any(|(u, g, p)| *u == uscc && g == grantee && *p == purpose)
                .then(|| "c-1".to_string()))
        }
    }

    fn key(n: u8) -> PublicKey {
        Keypair::from_secret([n; 32]).public()
    }

    fn member(n: u8, roles: &[Role], purpose: Option<Purpose>) -> Caller {
        Caller(Some(Arc::new(Principal {
            key: key(n),
            member: Some(Member {
                name: format!("m{n}"),
                public_key: key(n),
                roles: Roles::from_list(roles),
                city: String::new(),
                categories: deltachain_protocol::Categories::NONE,
            }),
            enterprise: None,
            validator: false,
            purpose: purpose.map(Ok),
        })))
    }

    fn enterprise(n: u8, uscc: &str, purpose: Option<Purpose>) -> Caller {
        Caller(Some(Arc::new(Principal {
            key: key(n),
            member: None,
            enterprise: Some(uscc.into()),
            validator: false,
            purpose: purpose.map(Ok),
        })))
    }

    fn validator() -> Caller {
        Caller(Some(Arc::new(Principal {
            key: key(90),
            member: None,
            enterprise: None,
            validator: true,
            purpose: None,
        })))
    }

    fn code(r: Result<Grant, ApiError>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(e) => e.code,
        }
    }

    /// The table of the module docs, row by row.
    #[test]
    fn who_may_read_what() {
        use Purpose::*;
        let bank = 1;
        let world = World {
            consents: vec![(E, key(bank), LoanApproval)],
        };
        let anon = Caller(None);
        let reg = member(9, &[Role::Regulator], Some(Supervision));
        let lender = |p| member(bank, &[Role::CreditReporter, Role::Lender], p);
        let registrar = member(4, &[Role::IpRegistrar], Some(LoanApproval));
        let ent = |p| enterprise(20, E, p);
        let own_key = key(bank);
        let other_key = key(2);
        let ent_key = key(20);
        let rows: Vec<(&str, Caller, Resource, &str)> = vec![
            (
                "anonymous, blocks",
                anon.clone(),
                Resource::BlockBodies,
                "signature_required",
            ),
            (
                "anonymous, members",
                anon.clone(),
                Resource::Members,
                "signature_required",
            ),
            (
                "anonymous, records",
                anon.clone(),
                Resource::EnterpriseRecords { uscc: E },
                "signature_required",
            ),
            (
                "regulator, records",
                reg.clone(),
                Resource::EnterpriseRecords { uscc: E },
                "ok",
            ),
            (
                "regulator, blocks",
                reg.clone(),
                Resource::BlockBodies,
                "ok",
            ),
            (
                "regulator, query log",
                reg.clone(),
                Resource::QueryLog { uscc: E },
                "ok",
            ),
            (
                "regulator, queries by",
                reg.clone(),
                Resource::QueriesBy {
                    requester: &other_key,
                },
                "ok",
            ),
            (
                "validator, blocks",
                validator(),
                Resource::BlockBodies,
                "ok",
            ),
            (
                "validator, any tx",
                validator(),
                Resource::Transaction { sender: &other_key },
                "ok",
            ),
            (
                "validator, records",
                validator(),
                Resource::EnterpriseRecords { uscc: E },
                "purpose_required",
            ),
            (
                "member, blocks",
                registrar.clone(),
                Resource::BlockBodies,
                "forbidden",
            ),
            (
                "member, all events",
                registrar.clone(),
                Resource::AllEvents,
                "forbidden",
            ),
            (
                "member, IP",
                registrar.clone(),
                Resource::Ip { owner: E },
                "ok",
            ),
            (
                "member, members",
                registrar.clone(),
                Resource::Members,
                "ok",
            ),
            (
                "member, own tx",
                lender(None),
                Resource::Transaction { sender: &own_key },
                "ok",
            ),
            (
                "member, other's tx",
                lender(None),
                Resource::Transaction { sender: &other_key },
                "not_your_transaction",
            ),
            (
                "lender with consent",
                lender(Some(LoanApproval)),
                Resource::EnterpriseRecords { uscc: E },
                "ok",
            ),
            (
                "lender, other purpose",
                lender(Some(GuaranteeReview)),
                Resource::EnterpriseRecords { uscc: E },
                "consent_required",
            ),
            (
                "lender, other enterprise",
                lender(Some(LoanApproval)),
                Resource::EnterpriseRecords { uscc: OTHER },
                "consent_required",
            ),
            (
                "lender, no purpose",
                lender(None),
                Resource::EnterpriseRecords { uscc: E },
                "purpose_required",
            ),
            (
                "lender, supervision",
                lender(Some(Supervision)),
                Resource::EnterpriseRecords { uscc: E },
                "purpose_not_allowed",
            ),
            (
                "lender, own records",
                lender(None),
                Resource::OwnRecords { uscc: OTHER },
                "ok",
            ),
            (
                "lender, query log",
                lender(None),
                Resource::QueryLog { uscc: E },
                "forbidden",
            ),
            (
                "lender, own queries",
                lender(None),
                Resource::QueriesBy {
                    requester: &own_key,
                },
                "ok",
            ),
            (
                "lender, other's queries",
                lender(None),
                Resource::QueriesBy {
                    requester: &other_key,
                },
                "forbidden",
            ),
            (
                "registrar, records",
                registrar.clone(),
                Resource::EnterpriseRecords { uscc: E },
                "forbidden",
            ),
            (
                "registrar, own records",
                registrar.clone(),
                Resource::OwnRecords { uscc: E },
                "forbidden",
            ),
            (
                "enterprise, own records",
                ent(Some(SelfInquiry)),
                Resource::EnterpriseRecords { uscc: E },
                "ok",
            ),
            (
                "enterprise, other's records",
                ent(Some(SelfInquiry)),
                Resource::EnterpriseRecords { uscc: OTHER },
                "purpose_not_allowed",
            ),
            (
                "enterprise, other's records, loan purpose",
                ent(Some(LoanApproval)),
                Resource::EnterpriseRecords { uscc: OTHER },
                "forbidden",
            ),
            (
                "enterprise, own query log",
                ent(None),
                Resource::QueryLog { uscc: E },
                "ok",
            ),
            (
                "enterprise, other's query log",
                ent(None),
                Resource::QueryLog { uscc: OTHER },
                "forbidden",
            ),
            ("enterprise, members", ent(None), Resource::Members, "ok"),
            (
                "enterprise, own IP",
                ent(None),
                Resource::Ip { owner: E },
                "ok",
            ),
            (
                "enterprise, other's IP",
                ent(None),
                Resource::Ip { owner: OTHER },
                "forbidden",
            ),
            (
                "enterprise, own account",
                ent(None),
                Resource::Account { key: &ent_key },
                "ok",
            ),
            (
                "enterprise, other account",
                ent(None),
                Resource::Account { key: &other_key },
                "forbidden",
            ),
        ];
        for (name, caller, what, want) in rows {
            assert_eq!(code(decide(&caller, &what, &world)), want, "{name}");
        }
        let g = decide(
            &lender(Some(LoanApproval)),
            &Resource::EnterpriseRecords { uscc: E },
            &world,
        )
        .unwrap();
        assert_eq!(
            g.basis,
            AccessBasis::Consent {
                consent_id: "c-1".into()
            }
        );
        assert_eq!(g.purpose, Some(LoanApproval));
    }
}
