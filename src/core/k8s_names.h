/* k8s_names.h - the name rules of Kubernetes validation, shared by the FIXSession loader and the
 * gateway's configuration so both accept exactly what the API server accepts. All take explicit lengths. */
#ifndef FIXGW_CORE_K8S_NAMES_H
#define FIXGW_CORE_K8S_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define K8S_DNS_LABEL_MAX     63
#define K8S_DNS_SUBDOMAIN_MAX 253
#define K8S_PORT_NAME_MAX     15

/** DNS-1123 label: 1..63 of [a-z0-9-], starting and ending alphanumeric (namespaces, listener names). */
bool k8s_is_dns1123_label(const char *s, size_t n);
/** DNS-1035 label: a DNS-1123 label that starts with a letter (Service names). */
bool k8s_is_dns1035_label(const char *s, size_t n);
/** DNS-1123 subdomain: labels joined by '.', at most 253 bytes (object names). */
bool k8s_is_dns1123_subdomain(const char *s, size_t n);
/** IANA service name as Kubernetes checks port names: a label of at most 15 bytes with at least one
 * letter and no "--". */
bool k8s_is_port_name(const char *s, size_t n);

#endif
