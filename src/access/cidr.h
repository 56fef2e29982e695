/*
 * cidr.h: IPv4/IPv6 addresses, CIDR prefixes and source-address allowlists.
 *
 * Used to restrict where a user or a role may authenticate from. Parsing is
 * strict: a prefix with host bits set ("10.1.2.3/8") is refused rather than
 * silently widened or narrowed, because an allowlist typo must not grant
 * more than intended. A bare address is a host prefix (/32 or /128).
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are matched as IPv4, so a
 * dual-stack listener that reports "::ffff:10.0.0.1" still hits 10.0.0.0/8.
 *
 * Invariants: an mm_cidr always has family 4 or 6, bits within the family's
 * width, and every address bit beyond `bits` is zero. Lists hold at most
 * MM_CIDR_LIST_MAX entries. Nothing here allocates except mm_cidr_list.
 */
#ifndef MM_ACCESS_CIDR_H
#define MM_ACCESS_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define MM_CIDR_LIST_MAX 64
#define MM_CIDR_TEXT_MAX 64   /* longest text of one entry ("ffff:...:ffff/128") */

typedef struct mm_ip {
	uint8_t family;    /* 4 or 6 */
	uint8_t addr[16];  /* IPv4 in the first 4 bytes */
} mm_ip;

typedef struct mm_cidr {
	uint8_t family;
	uint8_t bits;
	uint8_t addr[16];
} mm_cidr;

typedef struct mm_cidr_list {
	mm_cidr v[MM_CIDR_LIST_MAX];
	size_t n;
} mm_cidr_list;

/* Parses a literal IPv4 or IPv6 address (no brackets, no zone, no port).
 * IPv4-mapped IPv6 becomes IPv4. Errors: MM_ERR_INVALID. */
mm_err mm_ip_parse(const char *s, mm_ip *ret);

/* Parses "ADDR/BITS" or "ADDR". Errors: MM_ERR_INVALID naming the entry
 * (bad address, bits out of range, host bits set). */
mm_err mm_cidr_parse(const char *s, mm_cidr *ret);

/* True when ip lies inside c (families must agree). */
bool mm_cidr_contains(const mm_cidr *c, const mm_ip *ip);

/* Parses a comma-separated list ("10.0.0.0/8, 2001:db8::/32"); spaces
 * around entries are ignored; an empty string is an empty list.
 * Errors: MM_ERR_INVALID, MM_ERR_LIMIT (more than MM_CIDR_LIST_MAX). */
mm_err mm_cidr_list_parse(const char *s, mm_cidr_list *ret);

/* Appends the canonical text of c ("10.0.0.0/8", "2001:db8::/32").
 * Errors: MM_ERR_LIMIT, MM_ERR_NOMEM from the buffer. */
mm_err mm_cidr_format(const mm_cidr *c, mm_buf *out);

/* Appends the canonical comma-separated text of a list (no spaces). */
mm_err mm_cidr_list_format(const mm_cidr_list *l, mm_buf *out);

/* True when the list is empty (no restriction) or some entry contains ip. */
bool mm_cidr_list_allows(const mm_cidr_list *l, const mm_ip *ip);

/* Convenience: parses list text and address text and answers whether the
 * address is allowed. An empty or NULL list allows everything; an address
 * that does not parse is never allowed by a non-empty list. */
bool mm_cidr_text_allows(const char *list, const char *addr);

#endif
