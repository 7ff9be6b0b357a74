/* fix_dict.c - static, sorted tag tables searched by bisection; nothing is allocated. */
#include "fix_dict.h"

#include <stddef.h>

struct tag_pair {
	uint32_t key;
	uint32_t val;
};

struct tag_name {
	uint32_t tag;
	const char *name;
};

/* Length tag -> data tag, sorted by length tag. */
static const struct tag_pair data_by_length[] = {
    {90, 91},     {93, 89},     {95, 96},     {212, 213},   {348, 349},   {350, 351},
    {352, 353},   {354, 355},   {356, 357},   {358, 359},   {360, 361},   {362, 363},
    {364, 365},   {445, 446},   {618, 619},   {621, 622},   {1184, 1185}, {1277, 1278},
    {1280, 1281}, {1282, 1283}, {1397, 1398}, {1401, 1402}, {1403, 1404}, {1468, 1469},
};

/* The same pairs the other way round, sorted by data tag. */
static const struct tag_pair length_by_data[] = {
    {89, 93},     {91, 90},     {96, 95},     {213, 212},   {349, 348},   {351, 350},
    {353, 352},   {355, 354},   {357, 356},   {359, 358},   {361, 360},   {363, 362},
    {365, 364},   {446, 445},   {619, 618},   {622, 621},   {1185, 1184}, {1278, 1277},
    {1281, 1280}, {1283, 1282}, {1398, 1397}, {1402, 1401}, {1404, 1403}, {1469, 1468},
};

static const uint32_t secret_tags[] = {90, 91, 95, 96, 554, 925, 1400, 1401, 1402, 1403, 1404};

static const struct tag_name tag_names[] = {
    {8, "BeginString"},
    {9, "BodyLength"},
    {10, "CheckSum"},
    {34, "MsgSeqNum"},
    {35, "MsgType"},
    {43, "PossDupFlag"},
    {49, "SenderCompID"},
    {50, "SenderSubID"},
    {52, "SendingTime"},
    {56, "TargetCompID"},
    {57, "TargetSubID"},
    {58, "Text"},
    {89, "Signature"},
    {90, "SecureDataLen"},
    {91, "SecureData"},
    {93, "SignatureLength"},
    {95, "RawDataLength"},
    {96, "RawData"},
    {97, "PossResend"},
    {98, "EncryptMethod"},
    {108, "HeartBtInt"},
    {115, "OnBehalfOfCompID"},
    {116, "OnBehalfOfSubID"},
    {122, "OrigSendingTime"},
    {128, "DeliverToCompID"},
    {129, "DeliverToSubID"},
    {141, "ResetSeqNumFlag"},
    {142, "SenderLocationID"},
    {143, "TargetLocationID"},
    {144, "OnBehalfOfLocationID"},
    {145, "DeliverToLocationID"},
    {212, "XmlDataLen"},
    {213, "XmlData"},
    {347, "MessageEncoding"},
    {369, "LastMsgSeqNumProcessed"},
    {372, "RefMsgType"},
    {383, "MaxMessageSize"},
    {384, "NoMsgTypes"},
    {385, "MsgDirection"},
    {464, "TestMessageIndicator"},
    {553, "Username"},
    {554, "Password"},
    {789, "NextExpectedMsgSeqNum"},
    {925, "NewPassword"},
    {1128, "ApplVerID"},
    {1129, "CstmApplVerID"},
    {1137, "DefaultApplVerID"},
    {1156, "ApplExtID"},
    {1400, "EncryptedPasswordMethod"},
    {1401, "EncryptedPasswordLen"},
    {1402, "EncryptedPassword"},
    {1403, "EncryptedNewPasswordLen"},
    {1404, "EncryptedNewPassword"},
    {1407, "DefaultApplExtID"},
    {1408, "DefaultCstmApplVerID"},
    {1409, "SessionStatus"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Index of key in a sorted array of n pairs, or n. */
static size_t pair_find(const struct tag_pair *t, size_t n, uint32_t key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t[mid].key == key)
			return mid;
		if (t[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return n;
}

uint32_t fix_dict_data_tag_for_length(uint32_t length_tag)
{
	size_t i = pair_find(data_by_length, COUNT(data_by_length), length_tag);

	return i < COUNT(data_by_length) ? data_by_length[i].val : 0;
}

uint32_t fix_dict_length_tag_for_data(uint32_t data_tag)
{
	size_t i = pair_find(length_by_data, COUNT(length_by_data), data_tag);

	return i < COUNT(length_by_data) ? length_by_data[i].val : 0;
}

bool fix_dict_is_secret(uint32_t tag)
{
	size_t lo = 0, hi = COUNT(secret_tags);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (secret_tags[mid] == tag)
			return true;
		if (secret_tags[mid] < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

const char *fix_dict_name(uint32_t tag)
{
	size_t lo = 0, hi = COUNT(tag_names);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (tag_names[mid].tag == tag)
			return tag_names[mid].name;
		if (tag_names[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool fix_dict_is_unroutable(uint32_t tag)
{
	return tag == FIX_TAG_BODY_LENGTH || tag == FIX_TAG_CHECKSUM || tag == FIX_TAG_MSG_TYPE ||
	       fix_dict_is_secret(tag);
}
