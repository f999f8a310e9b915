"""The REST API's SQL, one repository module per resource. Functions take an open connection
(the caller owns the transaction, so a PHI read and its audit row commit together) and return
plain dicts or rows; no function here decides who may see what (api.access does)."""
