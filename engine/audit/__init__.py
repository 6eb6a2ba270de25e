"""The audit trail: the signed, hash-chained run log, redaction, verification, the report."""
