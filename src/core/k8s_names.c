/* k8s_names.c - Kubernetes name rules. */
#include "core/k8s_names.h"

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_label(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_lower(s[i]) && !(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return false;
	return true;
}

bool k8s_is_dns1123_label(const char *s, size_t n)
{
	return is_label(s, n, K8S_DNS_LABEL_MAX);
}

bool k8s_is_dns1035_label(const char *s, size_t n)
{
	return is_label(s, n, K8S_DNS_LABEL_MAX) && is_lower(s[0]);
}

bool k8s_is_dns1123_subdomain(const char *s, size_t n)
{
	if (n == 0 || n > K8S_DNS_SUBDOMAIN_MAX)
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!is_label(s + start, i - start, K8S_DNS_SUBDOMAIN_MAX))
				return false;
			start = i + 1;
		}
	}
	return true;
}

bool k8s_is_port_name(const char *s, size_t n)
{
	if (!is_label(s, n, K8S_PORT_NAME_MAX))
		return false;
	bool letter = false;
	for (size_t i = 0; i < n; i++) {
		letter |= is_lower(s[i]);
		if (i > 0 && s[i] == '-' && s[i - 1] == '-')
			return false;
	}
	return letter;
}
