/*
 * cidr.c: address and prefix parsing over inet_pton(3), prefix matching.
 * See cidr.h for the rules. Invariant: every mm_cidr this file produces has
 * zero host bits, so containment is a masked compare of `bits` bits.
 */
#include "access/cidr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

mm_err mm_ip_parse(const char *s, mm_ip *ret)
{
	mm_ip ip;
	size_t n = s ? strlen(s) : 0;

	memset(&ip, 0, sizeof(ip));
	if (n == 0 || n >= MM_CIDR_TEXT_MAX)
		goto bad;
	if (strchr(s, ':') == NULL) {
		if (inet_pton(AF_INET, s, ip.addr) != 1)
			goto bad;
		ip.family = 4;
	} else {
		if (inet_pton(AF_INET6, s, ip.addr) != 1)
			goto bad;
		ip.family = 6;
		if (memcmp(ip.addr, v4mapped, sizeof(v4mapped)) == 0) {
			memmove(ip.addr, ip.addr + 12, 4);
			memset(ip.addr + 4, 0, 12);
			ip.family = 4;
		}
	}
	*ret = ip;
	return MM_OK;
bad:
	return mm_err_set(MM_ERR_INVALID, "'%.64s' is not an IPv4 or IPv6 address", s ? s : "");
}

static bool host_bits_zero(const uint8_t *a, int width, int bits)
{
	for (int b = bits; b < width; b++)
		if (a[b / 8] & (0x80 >> (b % 8)))
			return false;
	return true;
}

mm_err mm_cidr_parse(const char *s, mm_cidr *ret)
{
	char addr[MM_CIDR_TEXT_MAX];
	const char *slash;
	mm_cidr c;
	long bits;
	int width;
	bool mapped = false;
	size_t n = s ? strlen(s) : 0;

	memset(&c, 0, sizeof(c));
	if (n == 0 || n >= sizeof(addr))
		return mm_err_set(MM_ERR_INVALID, "'%.64s' is not a CIDR prefix", s ? s : "");
	slash = strchr(s, '/');
	if (slash == NULL) {
		memcpy(addr, s, n + 1);
		bits = -1;
	} else {
		const char *p = slash + 1;
		size_t alen = (size_t)(slash - s);

		memcpy(addr, s, alen);
		addr[alen] = '\0';
		/* Digits only: no sign, no spaces, no leading zeros beyond "0". */
		if (*p == '\0' || strlen(p) > 3 || (p[0] == '0' && p[1] != '\0'))
			goto bad;
		for (const char *q = p; *q; q++)
			if (!isdigit((unsigned char)*q))
				goto bad;
		bits = strtol(p, NULL, 10);
	}
	if (strchr(addr, ':') == NULL) {
		if (inet_pton(AF_INET, addr, c.addr) != 1)
			goto bad;
		c.family = 4;
		width = 32;
	} else {
		if (inet_pton(AF_INET6, addr, c.addr) != 1)
			goto bad;
		c.family = 6;
		width = 128;
		mapped = memcmp(c.addr, v4mapped, sizeof(v4mapped)) == 0;
	}
	if (bits < 0)
		bits = width;
	if (bits > width)
		goto bad;
	if (mapped && bits >= 96) {
		/* ::ffff:a.b.c.d/N is the IPv4 prefix a.b.c.d/(N-96). */
		memmove(c.addr, c.addr + 12, 4);
		memset(c.addr + 4, 0, 12);
		c.family = 4;
		bits -= 96;
		width = 32;
	}
	if (!host_bits_zero(c.addr, width, (int)bits))
		return mm_err_set(MM_ERR_INVALID, "'%.64s' has bits set beyond the /%ld prefix", s,
				  bits);
	c.bits = (uint8_t)bits;
	*ret = c;
	return MM_OK;
bad:
	return mm_err_set(MM_ERR_INVALID, "'%.64s' is not a CIDR prefix (ADDRESS/BITS)", s);
}

bool mm_cidr_contains(const mm_cidr *c, const mm_ip *ip)
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (c->family != ip->family)
		return false;
	if (memcmp(c->addr, ip->addr, (size_t)full) != 0)
		return false;
	if (rest != 0) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		if ((c->addr[full] & mask) != (ip->addr[full] & mask))
			return false;
	}
	return true;
}

mm_err mm_cidr_list_parse(const char *s, mm_cidr_list *ret)
{
	mm_cidr_list *l = calloc(1, sizeof(*l));
	const char *p = s ? s : "";
	mm_err rc = MM_OK;

	if (l == NULL)
		return MM_ERR_NOMEM;
	for (;;) {
		char item[MM_CIDR_TEXT_MAX];
		const char *e;
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' && l->n == 0)
			break;
		e = strchr(p, ',');
		n = e ? (size_t)(e - p) : strlen(p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0 || n >= sizeof(item)) {
			rc = mm_err_set(MM_ERR_INVALID, "empty or over-long entry in address list");
			goto out;
		}
		if (l->n == MM_CIDR_LIST_MAX) {
			rc = mm_err_set(MM_ERR_LIMIT, "more than %d entries in address list",
					MM_CIDR_LIST_MAX);
			goto out;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		if ((rc = mm_cidr_parse(item, &l->v[l->n])) != MM_OK)
			goto out;
		l->n++;
		if (e == NULL)
			break;
		p = e + 1;
	}
	*ret = *l;
out:
	free(l);
	return rc;
}

mm_err mm_cidr_format(const mm_cidr *c, mm_buf *out)
{
	char text[INET6_ADDRSTRLEN];

	if (inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, text, sizeof(text)) == NULL)
		return mm_err_set(MM_ERR_INTERNAL, "unprintable prefix");
	return mm_buf_appendf(out, "%s/%u", text, (unsigned)c->bits);
}

mm_err mm_cidr_list_format(const mm_cidr_list *l, mm_buf *out)
{
	mm_err rc = MM_OK;

	for (size_t i = 0; i < l->n && rc == MM_OK; i++) {
		if (i > 0)
			rc = mm_buf_appendc(out, ',');
		if (rc == MM_OK)
			rc = mm_cidr_format(&l->v[i], out);
	}
	return rc;
}

bool mm_cidr_list_allows(const mm_cidr_list *l, const mm_ip *ip)
{
	if (l->n == 0)
		return true;
	for (size_t i = 0; i < l->n; i++)
		if (mm_cidr_contains(&l->v[i], ip))
			return true;
	return false;
}

bool mm_cidr_text_allows(const char *list, const char *addr)
{
	mm_cidr_list *l;
	mm_ip ip;
	bool ok = false;

	if (list == NULL || list[0] == '\0')
		return true;
	l = malloc(sizeof(*l));
	if (l == NULL)
		return false;
	/* Fail closed: a list that no longer parses allows nothing. */
	if (mm_cidr_list_parse(list, l) == MM_OK)
		ok = l->n == 0 || (mm_ip_parse(addr, &ip) == MM_OK && mm_cidr_list_allows(l, &ip));
	free(l);
	return ok;
}
