"""Build FIX messages byte-exactly for tests: correct BodyLength and CheckSum unless told otherwise."""

SOH = b"\x01"


def fix_message(begin: str, msg_type: str, fields, body_length=None, checksum=None) -> bytes:
    """fields: list of (tag, value) pairs, value str or bytes, in order after 35."""
    body = b"35=" + msg_type.encode() + SOH
    for tag, value in fields:
        if isinstance(value, str):
            value = value.encode()
        body += str(tag).encode() + b"=" + value + SOH
    blen = len(body) if body_length is None else body_length
    head = b"8=" + begin.encode() + SOH + b"9=" + str(blen).encode() + SOH
    msg = head + body
    cks = sum(msg) % 256 if checksum is None else checksum
    return msg + b"10=" + b"%03d" % cks + SOH


def logon(sender="BROKER_A", target="FIXGW", begin="FIX.4.4", extra=()):
    fields = [(49, sender), (56, target), (34, "1"), (52, "20261127-12:00:00.000"), (98, "0"), (108, "30")]
    return fix_message(begin, "A", fields + list(extra))
