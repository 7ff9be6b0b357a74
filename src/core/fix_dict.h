/* fix_dict.h - the few facts about FIX tags that a session-transparent gateway needs.
 *
 * Not a data dictionary: only (1) which fields carry length-prefixed data, (2) which fields are secrets
 * that must never reach a log, span, metric or error message, and (3) the names of the common header and
 * Logon fields, used to warn about a likely typo such as "SenderCompID56".
 */
#ifndef FIXGW_CORE_FIX_DICT_H
#define FIXGW_CORE_FIX_DICT_H

#include <stdbool.h>
#include <stdint.h>

#define FIX_SOH '\x01'

enum {
	FIX_TAG_BEGIN_STRING = 8,
	FIX_TAG_BODY_LENGTH = 9,
	FIX_TAG_CHECKSUM = 10,
	FIX_TAG_MSG_SEQ_NUM = 34,
	FIX_TAG_MSG_TYPE = 35,
	FIX_TAG_SENDER_COMP_ID = 49,
	FIX_TAG_SENDER_SUB_ID = 50,
	FIX_TAG_SENDING_TIME = 52,
	FIX_TAG_TARGET_COMP_ID = 56,
	FIX_TAG_TARGET_SUB_ID = 57,
	FIX_TAG_TEXT = 58,
	FIX_TAG_SENDER_LOCATION_ID = 142,
	FIX_TAG_TARGET_LOCATION_ID = 143,
};

/** If tag is a length field of a length-prefixed data field (95 -> 96, 90 -> 91, ...), return the data
 * tag; else 0. */
uint32_t fix_dict_data_tag_for_length(uint32_t length_tag);

/** If tag is a length-prefixed data field (96 -> 95, 91 -> 90, ...), return its length tag; else 0. */
uint32_t fix_dict_length_tag_for_data(uint32_t data_tag);

/** True for the fields whose values are secrets: Password 554, NewPassword 925, RawDataLength/RawData
 * 95/96, SecureDataLen/SecureData 90/91, EncryptedPasswordMethod..EncryptedNewPassword 1400-1404. */
bool fix_dict_is_secret(uint32_t tag);

/** The standard name of a common tag ("SenderCompID" for 49), or NULL when the tag is not one of the
 * fields fixgw knows by name. */
const char *fix_dict_name(uint32_t tag);

/** True for tags that cannot be routing keys: 9, 10, 35 (structure, not identity) and every secret. */
bool fix_dict_is_unroutable(uint32_t tag);

#endif
