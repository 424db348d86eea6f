"""The canonical encoding of docs/SPEC.md, section 2, driven by the schema
of section 3.

A type is one of:
  "u8" "u16" "u32" "u64" "bool" "string" "hash" "public_key" "signature" "date"
  ("option", T)       1-byte tag, then T when 1
  ("vec", T)          u64 count, then each element
  ("names", [...])    a named enum: u32 index into the list; a string in JSON
  ("set", width, [...]) a set of names: a u8/u16 bitmask, bit i = name i;
                      a list of names in JSON
  ("struct", [(field, T), ...])  fields in order, no framing; an object in JSON
  ("enum", [(variant, T or None), ...])  u32 index, then the variant's value;
                      JSON: "variant" (no value) or {"variant": value}
  a string naming an entry of SCHEMA
"""

import struct

MAX_DECODE_BYTES = 64 * 1024 * 1024


class DecodeError(ValueError):
    """Bytes that are not the canonical encoding of a value."""


def _names(*names):
    return ("names", list(names))


SCHEMA = {
    "Date": "date",
    "CreditKind": _names("loan", "repayment", "overdue", "default", "guarantee", "rating"),
    "IpKind": _names("patent", "trademark", "copyright", "software_copyright"),
    "Roles": ("set", 1, ["credit_reporter", "ip_registrar", "lender", "regulator", "reader",
                         "enterprise_registrar", "receivables_registrar", "data_provider"]),
    "Categories": ("set", 2, ["tax_grade", "tax_arrears", "social_insurance", "housing_fund",
                              "utilities", "court_judgment", "enforcement", "dishonest_debtor",
                              "admin_penalty"]),
    "Scope": _names("credit", "ip", "receivables", "all"),
    "Purpose": _names("loan_approval", "post_loan_management", "guarantee_review",
                      "supervision", "self_inquiry"),
    "AuditRoute": _names("enterprise_records", "own_records", "query_log", "transaction",
                         "receivables", "report"),
    "FinanceKind": _names("pledge", "factoring"),
    "Utility": _names("water", "electricity", "gas"),
    "PaymentStatus": _names("on_time", "late", "arrears"),
    "ObjectionOutcome": _names("corrected", "upheld", "unresolved"),
    "Credit": ("struct", [
        ("enterprise", "string"), ("kind", "CreditKind"), ("reference", "string"),
        ("amount_fen", ("option", "u64")), ("currency", "string"), ("date", "Date"),
        ("rating", ("option", "string")), ("note", ("option", "string"))]),
    "CreditCorrection": ("struct", [
        ("original_tx", "hash"), ("reason", "string"), ("withdraw", "bool")]),
    "IpRegister": ("struct", [
        ("ip_id", "string"), ("kind", "IpKind"), ("title", "string"), ("owner", "string"),
        ("registered_on", "Date")]),
    "IpTransfer": ("struct", [("ip_id", "string"), ("new_owner", "string")]),
    "IpPledge": ("struct", [
        ("ip_id", "string"), ("amount_fen", "u64"), ("contract", "string"), ("until", "Date")]),
    "IpRelease": ("struct", [("ip_id", "string")]),
    "AddMember": ("struct", [
        ("name", "string"), ("public_key", "public_key"), ("roles", "Roles"),
        ("city", "string"), ("categories", "Categories")]),
    "RemoveMember": ("struct", [("public_key", "public_key")]),
    "SetRoles": ("struct", [
        ("public_key", "public_key"), ("roles", "Roles"), ("categories", "Categories")]),
    "EnterpriseKey": ("struct", [("uscc", "string"), ("public_key", "public_key")]),
    "Consent": ("struct", [
        ("chain_id", "string"), ("enterprise", "string"), ("grantee", "public_key"),
        ("scope", "Scope"), ("purpose", "Purpose"), ("not_before", "Date"), ("until", "Date"),
        ("consent_id", "string")]),
    "SignedConsent": ("struct", [("consent", "Consent"), ("signature", "signature")]),
    "ConsentRevoke": ("struct", [("consent_id", "string"), ("signature", "signature")]),
    "AccessBasis": ("enum", [
        ("regulator", None), ("enterprise", None),
        ("consent", ("struct", [("consent_id", "string")])),
        ("own_records", None), ("none", None)]),
    "AuditOutcome": ("enum", [
        ("granted", None), ("refused", ("struct", [("code", "string")]))]),
    "AuditEntry": ("struct", [
        ("time_ms", "u64"), ("requester", "public_key"), ("enterprise", "string"),
        ("route", "AuditRoute"), ("purpose", ("option", "Purpose")), ("basis", "AccessBasis"),
        ("outcome", "AuditOutcome"), ("response_hash", "hash")]),
    "AuditBatch": ("struct", [("first_seq", "u64"), ("entries", ("vec", "AuditEntry"))]),
    "ReceivableTerms": ("struct", [
        ("receivable_id", "string"), ("creditor", "string"), ("debtor", "string"),
        ("amount_fen", "u64"), ("currency", "string"), ("issued_on", "Date"),
        ("due_on", "Date"), ("invoices", ("vec", "string")), ("contract", "string"),
        ("collateral_registration", ("option", "string"))]),
    "ReceivableRegister": ("struct", [
        ("terms", "ReceivableTerms"), ("debtor_signature", "signature")]),
    "ReceivableFinance": ("struct", [
        ("receivable_id", "string"), ("kind", "FinanceKind"), ("amount_fen", "u64"),
        ("contract", "string"), ("until", "Date")]),
    "ReceivableRelease": ("struct", [("receivable_id", "string")]),
    "ReceivablePart": ("struct", [
        ("part_id", "string"), ("holder", "string"), ("amount_fen", "u64")]),
    "ReceivableSplit": ("struct", [
        ("receivable_id", "string"), ("parts", ("vec", "ReceivablePart"))]),
    "ReceivableTransfer": ("struct", [("receivable_id", "string"), ("new_holder", "string")]),
    "ReceivableSettle": ("struct", [
        ("receivable_id", "string"), ("amount_fen", "u64"), ("paid_on", "Date")]),
    "PublicData": ("enum", [
        ("tax_grade", ("struct", [("grade", "string")])),
        ("tax_arrears", ("struct", [("amount_fen", "u64")])),
        ("social_insurance", ("struct", [("headcount", "u32"), ("arrears_fen", "u64")])),
        ("housing_fund", ("struct", [("headcount", "u32"), ("arrears_fen", "u64")])),
        ("utilities", ("struct", [
            ("utility", "Utility"), ("status", "PaymentStatus"), ("months", "u8")])),
        ("court_judgment", ("struct", [
            ("case_number", "string"), ("amount_fen", ("option", "u64"))])),
        ("enforcement", ("struct", [("case_number", "string"), ("amount_fen", "u64")])),
        ("dishonest_debtor", ("struct", [("case_number", "string")])),
        ("admin_penalty", ("struct", [
            ("authority", "string"), ("decision_number", "string"),
            ("amount_fen", ("option", "u64"))]))]),
    "PublicRecord": ("struct", [
        ("enterprise", "string"), ("period", "string"), ("data", "PublicData"),
        ("source", "string"), ("note", ("option", "string"))]),
    "ObjectionTarget": ("enum", [("record", "hash"), ("receivable", "string")]),
    "Objection": ("struct", [
        ("target", "ObjectionTarget"), ("reason", "string"),
        ("consent_id", ("option", "string"))]),
    "ObjectionResolution": ("struct", [
        ("objection", "hash"), ("outcome", "ObjectionOutcome"), ("explanation", "string"),
        ("withdraw", "bool")]),
    "UsccException": ("struct", [("code", "string"), ("name", "string"), ("reason", "string")]),
    "Payload": ("enum", [
        ("credit", "Credit"), ("credit_correction", "CreditCorrection"),
        ("ip_register", "IpRegister"), ("ip_transfer", "IpTransfer"),
        ("ip_pledge", "IpPledge"), ("ip_release", "IpRelease"),
        ("add_member", "AddMember"), ("remove_member", "RemoveMember"),
        ("set_roles", "SetRoles"), ("enterprise_key", "EnterpriseKey"),
        ("consent_grant", "SignedConsent"), ("consent_revoke", "ConsentRevoke"),
        ("audit_batch", "AuditBatch"), ("receivable_register", "ReceivableRegister"),
        ("receivable_finance", "ReceivableFinance"),
        ("receivable_release", "ReceivableRelease"),
        ("receivable_split", "ReceivableSplit"),
        ("receivable_transfer", "ReceivableTransfer"),
        ("receivable_settle", "ReceivableSettle"), ("public_record", "PublicRecord"),
        ("objection", "Objection"), ("objection_resolution", "ObjectionResolution"),
        ("uscc_exception", "UsccException")]),
    "Transaction": ("struct", [
        ("chain_id", "string"), ("sender", "public_key"), ("nonce", "u64"),
        ("payload", "Payload")]),
    "SignedTransaction": ("struct", [("tx", "Transaction"), ("signature", "signature")]),
    "Outcome": _names("applied", "rejected"),
    "Receipt": ("struct", [
        ("tx_hash", "hash"), ("outcome", "Outcome"), ("reason", ("option", "string"))]),
    "BlockHeader": ("struct", [
        ("chain_id", "string"), ("height", "u64"), ("time_ms", "u64"), ("prev_hash", "hash"),
        ("tx_root", "hash"), ("results_root", "hash"), ("state_root", "hash"),
        ("last_commit_hash", "hash"), ("validators_hash", "hash"),
        ("proposer", "public_key"), ("tx_count", "u32")]),
    "VoteKind": _names("prevote", "precommit"),
    "Vote": ("struct", [
        ("height", "u64"), ("round", "u32"), ("kind", "VoteKind"), ("block", ("option", "hash")),
        ("validator", "u16")]),
}

_INTS = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q"}
_FIXED = {"hash": 32, "public_key": 32, "signature": 64}


def _days_in_month(y, m):
    if m == 2:
        leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
        return 29 if leap else 28
    return 30 if m in (4, 6, 9, 11) else 31


def _parse_date(s):
    if not isinstance(s, str) or len(s) != 10 or s[4] != "-" or s[7] != "-":
        raise ValueError(f"{s!r} is not a date YYYY-MM-DD")
    y, m, d = int(s[:4]), int(s[5:7]), int(s[8:])
    if not (1 <= m <= 12 and 1 <= d <= _days_in_month(y, m)):
        raise ValueError(f"{s!r} is not a calendar date")
    return y, m, d


def encode(t, value):
    """The canonical bytes of `value` (in its JSON form) as type `t`."""
    out = bytearray()
    _enc(t, value, out)
    return bytes(out)


def _enc(t, v, out):
    if isinstance(t, str):
        if t in _INTS:
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{v!r} is not an unsigned integer")
            out += struct.pack(_INTS[t], v)
        elif t == "bool":
            if not isinstance(v, bool):
                raise ValueError(f"{v!r} is not a boolean")
            out.append(1 if v else 0)
        elif t == "string":
            b = v.encode("utf-8")
            out += struct.pack("<Q", len(b)) + b
        elif t in _FIXED:
            b = bytes.fromhex(v)
            if len(b) != _FIXED[t]:
                raise ValueError(f"{t} must be {_FIXED[t]} bytes, got {len(b)}")
            out += b
        elif t == "date":
            y, m, d = _parse_date(v)
            out += struct.pack("<HBB", y, m, d)
        else:
            _enc(SCHEMA[t], v, out)
        return
    kind = t[0]
    if kind == "option":
        if v is None:
            out.append(0)
        else:
            out.append(1)
            _enc(t[1], v, out)
    elif kind == "vec":
        out += struct.pack("<Q", len(v))
        for item in v:
            _enc(t[1], item, out)
    elif kind == "names":
        out += struct.pack("<I", t[1].index(v))
    elif kind == "set":
        bits = 0
        for name in v:
            bits |= 1 << t[2].index(name)
        out += struct.pack("<B" if t[1] == 1 else "<H", bits)
    elif kind == "struct":
        for name, ft in t[1]:
            if name not in v:
                raise ValueError(f"field {name!r} is missing")
            _enc(ft, v[name], out)
    elif kind == "enum":
        names = [n for n, _ in t[1]]
        if isinstance(v, str):
            name, inner = v, None
        else:
            (name, inner), = v.items()
        i = names.index(name)
        out += struct.pack("<I", i)
        vt = t[1][i][1]
        if vt is not None:
            _enc(vt, inner, out)
    else:
        raise ValueError(f"unknown type {t!r}")


def decode(t, data, limit=MAX_DECODE_BYTES):
    """The JSON form of the one value of type `t` that `data` encodes."""
    if len(data) > limit:
        raise DecodeError(f"{len(data)} bytes, over the limit of {limit}")
    r = _Reader(bytes(data))
    v = r.value(t)
    if r.pos != len(r.data):
        raise DecodeError(f"{len(r.data) - r.pos} trailing bytes after a complete value")
    return v


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if n > len(self.data) - self.pos:
            raise DecodeError("the input ends before a value is complete")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def int(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def value(self, t):
        if isinstance(t, str):
            if t in _INTS:
                return self.int(_INTS[t])
            if t == "bool":
                b = self.int("<B")
                if b > 1:
                    raise DecodeError(f"a bool is 0 or 1, got {b}")
                return b == 1
            if t == "string":
                n = self.int("<Q")
                try:
                    return self.take(n).decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DecodeError(f"string is not UTF-8: {e}") from None
            if t in _FIXED:
                return self.take(_FIXED[t]).hex()
            if t == "date":
                y, m, d = struct.unpack("<HBB", self.take(4))
                s = f"{y:04d}-{m:02d}-{d:02d}"
                try:
                    _parse_date(s)
                except ValueError as e:
                    raise DecodeError(str(e)) from None
                return s
            return self.value(SCHEMA[t])
        kind = t[0]
        if kind == "option":
            tag = self.int("<B")
            if tag > 1:
                raise DecodeError(f"an Option tag is 0 or 1, got {tag}")
            return self.value(t[1]) if tag else None
        if kind == "vec":
            n = self.int("<Q")
            if n > len(self.data) - self.pos:
                raise DecodeError("a length prefix is larger than the input")
            return [self.value(t[1]) for _ in range(n)]
        if kind == "names":
            i = self.int("<I")
            if i >= len(t[1]):
                raise DecodeError(f"enum variant index {i} out of range")
            return t[1][i]
        if kind == "set":
            bits = self.int("<B" if t[1] == 1 else "<H")
            if bits >> len(t[2]):
                raise DecodeError(f"unknown bits {bits:#x} in a set")
            return [n for i, n in enumerate(t[2]) if bits >> i & 1]
        if kind == "struct":
            return {name: self.value(ft) for name, ft in t[1]}
        if kind == "enum":
            i = self.int("<I")
            if i >= len(t[1]):
                raise DecodeError(f"enum variant index {i} out of range")
            name, vt = t[1][i]
            return name if vt is None else {name: self.value(vt)}
        raise ValueError(f"unknown type {t!r}")
