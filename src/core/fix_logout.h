/* fix_logout.h - build the FIX Logout (35=5) with which the reject engine answers an unmatched Logon.
 *
 * This is the only FIX message fixgw ever writes. It is built from a Logon already scanned by fix_scan
 * (src/core/fix_scan.h) and echoes as little counterparty input as possible: the BeginString and the
 * routing identities, swapped so that the Logout is addressed back to the sender:
 *
 *	Logout 49 SenderCompID       <- Logon 56 TargetCompID
 *	Logout 56 TargetCompID       <- Logon 49 SenderCompID
 *	Logout 50 SenderSubID        <- Logon 57 TargetSubID
 *	Logout 57 TargetSubID        <- Logon 50 SenderSubID
 *	Logout 142 SenderLocationID  <- Logon 143 TargetLocationID
 *	Logout 143 TargetLocationID  <- Logon 142 SenderLocationID
 *
 * Every other Logon field (passwords, custom tags, ...) is never copied. The output is
 *
 *	8=<BeginString> 9=<BodyLength> 35=5 [49=..] [56=..] 34=1 52=<SendingTime> [50=..] [57=..]
 *	[142=..] [143=..] [58=<reason>] 10=<CheckSum>
 *
 * with SOH after each field, SendingTime in UTC as YYYYMMDD-HH:MM:SS.sss, BodyLength counting the bytes
 * from 35= up to and including the SOH before 10=, and CheckSum the sum of all bytes before 10= modulo 256
 * written as three digits. FIXT.1.1 gets no ApplVerID (1128): a Logout is a session message.
 */
#ifndef FIXGW_CORE_FIX_LOGOUT_H
#define FIXGW_CORE_FIX_LOGOUT_H

#include <stddef.h>
#include <time.h>

#include "core/fix_scan.h"

/** Longest BeginString or CompID/SubID/LocationID value copied from the Logon, in bytes. */
#define FIX_LOGOUT_VALUE_MAX 64u

/** Longest reason (Text 58), in bytes. */
#define FIX_LOGOUT_REASON_MAX 256u

/** An output buffer of this many bytes always suffices. The largest possible Logout is 785 bytes:
 * 8= 67, 9= 6, 35= 5, 49= and 56= 136, 34= 5, 52= 25, 50= and 57= 136, 142= and 143= 138, 58= 260,
 * 10= 7 (FIX_LOGOUT_LARGEST in the unit test). */
#define FIX_LOGOUT_MAX_BYTES 1024u

/** Build a Logout answering the Logon in logon_buf, as scanned by sc.
 *
 * The scan is normally FIX_SCAN_COMPLETE, but a partial or invalid scan works too (the reject engine also
 * answers Logons it could not parse): whatever fields were scanned are used, and only the BeginString is
 * required. logon_buf must be the buffer the scanner's views point into.
 *
 * sc and logon_buf are only read; nothing is retained after the call. reason is the configured text for
 * Text (58): NUL-terminated, printable ASCII, at most FIX_LOGOUT_REASON_MAX bytes; NULL or "" omits 58.
 * now is the SendingTime (UTC wall clock, tv_nsec in [0, 1e9)). The message is written to out[0..cap),
 * not NUL-terminated, and its length is stored in *out_len.
 *
 * A Logon identity field that is absent or empty is left out of the Logout; when a tag occurs more than
 * once, its first occurrence is used. A copied value (or the BeginString) longer than
 * FIX_LOGOUT_VALUE_MAX bytes or holding a byte outside 0x20..0x7e is refused rather than emitted, so the
 * output is always a well-formed FIX message.
 *
 * Returns 0; FIXGW_EINVAL for a NULL argument, a missing or unusable BeginString, an unacceptable copied
 * value or reason, or a time that cannot be written as a four-digit year; FIXGW_ELIMIT when cap is too
 * small (FIX_LOGOUT_MAX_BYTES always suffices). On error *out_len is 0 and out holds no usable message. */
int fix_logout_build(const struct fix_scanner *sc, const char *logon_buf, const char *reason,
                     const struct timespec *now, char *out, size_t cap, size_t *out_len);

#endif
