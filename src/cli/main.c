/*
 * main.c: `mamori` entry point: global options, command dispatch, HTTP
 * calls through libcurl, session file, output helpers. See cli.h.
 */
#include "cli/cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "core/json.h"

#define MAX_RESPONSE (256 << 20)

static void vmsg(const char *fmt, va_list ap)
{
	fputs("mamori: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int mm_cli_usage(mm_cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	if (c->cmd_name != NULL)
		fprintf(stderr, "usage: mamori %s %s\n", c->cmd_name, c->cmd_usage ? c->cmd_usage : "");
	return MM_EXIT_USAGE;
}

int mm_cli_fail(mm_cli *c, int code, const char *fmt, ...)
{
	va_list ap;

	(void)c;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	return code;
}

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
	mm_buf *b = arg;

	if (mm_buf_append(b, p, sz * n) != MM_OK)
		return 0;
	return sz * n;
}

static const char *config_dir(char *out, size_t cap)
{
	const char *d = getenv("MAMORI_CONFIG_DIR");
	const char *home;

	if (d != NULL && d[0] != '\0') {
		snprintf(out, cap, "%s", d);
		return out;
	}
	d = getenv("XDG_CONFIG_HOME");
	if (d != NULL && d[0] != '\0') {
		snprintf(out, cap, "%s/mamori", d);
		return out;
	}
	home = getenv("HOME");
	if (home == NULL)
		return NULL;
	snprintf(out, cap, "%s/.config/mamori", home);
	return out;
}

static void session_load(mm_cli *c, bool want_addr, bool want_token)
{
	char dir[400], path[512];
	json_t *s;
	const char *v;
	struct stat st;

	if (config_dir(dir, sizeof(dir)) == NULL)
		return;
	snprintf(path, sizeof(path), "%s/session.json", dir);
	if (stat(path, &st) != 0)
		return;
	if ((st.st_mode & 077) != 0) {
		fprintf(stderr, "mamori: ignoring %s: its mode must be 0600\n", path);
		return;
	}
	s = json_load_file(path, 0, NULL);
	if (s == NULL)
		return;
	if (want_addr && (v = json_string_value(json_object_get(s, "addr"))) != NULL)
		snprintf(c->addr, sizeof(c->addr), "%s", v);
	if (want_token && (v = json_string_value(json_object_get(s, "token"))) != NULL)
		snprintf(c->token, sizeof(c->token), "%s", v);
	json_decref(s);
}

int mm_cli_session_save(mm_cli *c, const char *addr, const char *token, const char *user)
{
	char dir[400], path[512], tmp[520];
	json_t *s = json_pack("{s:s,s:s,s:s}", "addr", addr, "token", token, "user", user);
	char *text = s ? json_dumps(s, JSON_INDENT(2)) : NULL;
	int fd = -1, rc = MM_EXIT_FAIL;
	size_t n;

	json_decref(s);
	if (text == NULL || config_dir(dir, sizeof(dir)) == NULL)
		goto out;
	{
		/* mkdir -p with 0700 for each missing component */
		char p[400];

		snprintf(p, sizeof(p), "%s", dir);
		for (char *q = p + 1; *q; q++) {
			if (*q == '/') {
				*q = '\0';
				(void)mkdir(p, 0700);
				*q = '/';
			}
		}
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			goto out;
	}
	snprintf(path, sizeof(path), "%s/session.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	n = strlen(text);
	if (write(fd, text, n) != (ssize_t)n || fsync(fd) != 0 || fchmod(fd, 0600) != 0)
		goto out;
	close(fd);
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	rc = MM_EXIT_OK;
out:
	if (fd >= 0)
		close(fd);
	if (text != NULL) {
		memset(text, 0, strlen(text));
		free(text);
	}
	if (rc != MM_EXIT_OK)
		fprintf(stderr, "mamori: could not save the session in %s\n", dir);
	(void)c;
	return rc;
}

int mm_cli_session_remove(mm_cli *c)
{
	char dir[400], path[512];

	(void)c;
	if (config_dir(dir, sizeof(dir)) == NULL)
		return MM_EXIT_OK;
	snprintf(path, sizeof(path), "%s/session.json", dir);
	if (unlink(path) != 0 && errno != ENOENT)
		return MM_EXIT_FAIL;
	return MM_EXIT_OK;
}

int mm_cli_escape(mm_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			if (mm_buf_appendc(b, (char)ch) != MM_OK)
				return -1;
		} else if (mm_buf_appendc(b, '%') != MM_OK || mm_buf_appendc(b, hex[ch >> 4]) != MM_OK ||
			   mm_buf_appendc(b, hex[ch & 15]) != MM_OK) {
			return -1;
		}
	}
	return 0;
}

static int exit_for_status(long st)
{
	return (st == 400 || st == 413 || st == 405) ? MM_EXIT_USAGE : MM_EXIT_FAIL;
}

int mm_cli_call_raw(mm_cli *c, const char *method, const char *path, const char *ctype,
		    const void *data, size_t n, mm_buf *ret_body)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char url[2048], auth[600], ct[128], errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	int rc = MM_EXIT_FAIL;

	if (h == NULL)
		return mm_cli_fail(c, MM_EXIT_FAIL, "cannot initialise libcurl");
	snprintf(url, sizeof(url), "%s%s", c->addr, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, ret_body);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 600L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->cacert[0] != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
	if (c->token[0] != '\0') {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
		hdrs = curl_slist_append(hdrs, auth);
		memset(auth, 0, sizeof(auth));
	}
	if (data != NULL) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "application/json");
		hdrs = curl_slist_append(hdrs, ct);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	}
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		rc = mm_cli_fail(c, MM_EXIT_FAIL, "cannot reach mamori at %s: %s", c->addr,
				 errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->last_status);
	if (c->last_status >= 200 && c->last_status < 300) {
		rc = MM_EXIT_OK;
		goto out;
	}
	{
		json_t *e = json_loadb(mm_buf_str(ret_body), ret_body->len, 0, NULL);
		const char *msg = e ? json_string_value(json_object_get(json_object_get(e, "error"), "message")) : NULL;

		if (c->json && e != NULL)
			mm_cli_print_json(e);
		rc = mm_cli_fail(c, exit_for_status(c->last_status), "%s (HTTP %ld)",
				 msg ? msg : "request failed", c->last_status);
		json_decref(e);
	}
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return rc;
}

int mm_cli_call(mm_cli *c, const char *method, const char *path, json_t *body, json_t **ret)
{
	mm_buf out = MM_BUF_INIT(MAX_RESPONSE);
	char *req = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc;

	if (body != NULL && req == NULL)
		return mm_cli_fail(c, MM_EXIT_FAIL, "out of memory");
	rc = mm_cli_call_raw(c, method, path, "application/json", req, req ? strlen(req) : 0, &out);
	free(req);
	if (rc == MM_EXIT_OK && ret != NULL) {
		json_error_t e;

		*ret = out.len ? json_loadb(out.data, out.len, 0, &e) : json_object();
		if (*ret == NULL)
			rc = mm_cli_fail(c, MM_EXIT_FAIL, "the server sent invalid JSON");
	}
	mm_buf_release(&out);
	return rc;
}

void mm_cli_print_json(const json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (s != NULL) {
		puts(s);
		free(s);
	}
}

void mm_cli_print_field(const mm_cli *c, const json_t *reply, const char *field)
{
	if (c->json)
		mm_cli_print_json(reply);
	else
		printf("%s\n", json_string_value(json_object_get(reply, field)));
}

int mm_cli_call_show(mm_cli *c, const char *method, const char *path, json_t *body,
		     void (*text)(const json_t *reply))
{
	json_t *r = NULL;
	int rc = mm_cli_call(c, method, path, body, &r);

	if (rc == 0) {
		if (c->json)
			mm_cli_print_json(r);
		else
			text(r);
	}
	json_decref(r);
	return rc;
}

void mm_cli_progress(const char *label, unsigned long long done, unsigned long long total)
{
	if (!isatty(2) && getenv("MAMORI_PROGRESS") == NULL)
		return;
	if (total > 0)
		fprintf(stderr, "\r%s: %llu/%llu (%llu%%)", label, done, total, done * 100 / total);
	else
		fprintf(stderr, "\r%s: %llu", label, done);
	if (done >= total)
		fputc('\n', stderr);
	fflush(stderr);
}

int mm_cli_read_file(mm_cli *c, const char *path, mm_buf *out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int rc = MM_EXIT_OK;

	if (f == NULL)
		return mm_cli_fail(c, MM_EXIT_USAGE, "cannot open %s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (mm_buf_append(out, chunk, n) != MM_OK) {
			rc = mm_cli_fail(c, MM_EXIT_USAGE, "%s is too large", path);
			break;
		}
	}
	if (rc == MM_EXIT_OK && ferror(f))
		rc = mm_cli_fail(c, MM_EXIT_USAGE, "cannot read %s", path);
	if (f != stdin)
		fclose(f);
	return rc;
}

int mm_cli_read_secret(mm_cli *c, const char *prompt, bool from_stdin, char *out, size_t cap)
{
	struct termios old, noecho;
	bool tty = !from_stdin && isatty(0);
	size_t n;

	if (!from_stdin && !tty)
		return mm_cli_fail(c, MM_EXIT_USAGE, "no terminal to ask for the %s: use "
				   "--password-stdin or the option for it", prompt);
	if (tty) {
		fprintf(stderr, "%s: ", prompt);
		fflush(stderr);
		if (tcgetattr(0, &old) != 0)
			return mm_cli_fail(c, MM_EXIT_FAIL, "cannot read the terminal");
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		noecho.c_lflag |= ECHONL;
		tcsetattr(0, TCSAFLUSH, &noecho);
	}
	if (fgets(out, (int)cap, stdin) == NULL)
		out[0] = '\0';
	if (tty)
		tcsetattr(0, TCSAFLUSH, &old);
	n = strlen(out);
	if (n == cap - 1 && out[n - 1] != '\n') {
		memset(out, 0, cap);
		return mm_cli_fail(c, MM_EXIT_USAGE, "the %s is too long", prompt);
	}
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return MM_EXIT_OK;
}

const char *mm_cli_str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "-";
}

static void help(FILE *f)
{
	fprintf(f,
		"usage: mamori [--addr URL] [--token TOKEN] [--cacert FILE] [--json] COMMAND [ARGS]\n"
		"\n"
		"Environment: MAMORI_ADDR, MAMORI_TOKEN, MAMORI_CONFIG_DIR (session file location).\n"
		"\nCommands:\n");
	for (size_t t = 0; mm_cli_tables[t] != NULL; t++)
		for (const mm_cli_cmd *cmd = mm_cli_tables[t]; cmd->name != NULL; cmd++)
			fprintf(f, "  %-28s %s\n", cmd->name, cmd->summary);
}

/* Number of leading argv words that spell name, or 0. */
static int words_match(const char *name, int argc, char **argv)
{
	int n = 0;
	const char *p = name;

	while (*p != '\0') {
		const char *sp = strchr(p, ' ');
		size_t len = sp ? (size_t)(sp - p) : strlen(p);

		if (n >= argc || strlen(argv[n]) != len || strncmp(argv[n], p, len) != 0)
			return 0;
		n++;
		p += len;
		while (*p == ' ')
			p++;
	}
	return n;
}

int main(int argc, char **argv)
{
	mm_cli c;
	const mm_cli_cmd *best = NULL;
	int best_n = 0, i = 1, rc;
	const char *env;
	bool addr_set = false, token_set = false;

	memset(&c, 0, sizeof(c));
	c.prog = "mamori";
	/* Global options come before the command. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--json") == 0) {
			c.json = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help(stdout);
			return 0;
		} else if ((strcmp(a, "--addr") == 0 || strcmp(a, "--token") == 0 ||
			    strcmp(a, "--cacert") == 0) && i + 1 < argc) {
			char *dst = a[2] == 'a' ? c.addr : a[2] == 't' ? c.token : c.cacert;
			size_t cap = a[2] == 'a' ? sizeof(c.addr) : a[2] == 't' ? sizeof(c.token) : sizeof(c.cacert);

			if (strlen(argv[i + 1]) >= cap)
				return mm_cli_usage(&c, "%s: value too long", a);
			snprintf(dst, cap, "%s", argv[++i]);
			addr_set = addr_set || a[2] == 'a';
			token_set = token_set || a[2] == 't';
		} else {
			help(stderr);
			return mm_cli_usage(&c, "unknown global option %s", a);
		}
	}
	if (!addr_set && (env = getenv("MAMORI_ADDR")) != NULL && env[0] != '\0') {
		snprintf(c.addr, sizeof(c.addr), "%s", env);
		addr_set = true;
	}
	if (!token_set && (env = getenv("MAMORI_TOKEN")) != NULL && env[0] != '\0') {
		snprintf(c.token, sizeof(c.token), "%s", env);
		token_set = true;
	}
	session_load(&c, !addr_set, !token_set);
	if (c.addr[0] == '\0')
		snprintf(c.addr, sizeof(c.addr), "http://127.0.0.1:8470");
	{
		size_t n = strlen(c.addr);
		while (n > 0 && c.addr[n - 1] == '/')
			c.addr[--n] = '\0';
	}
	if (i >= argc) {
		help(stderr);
		return MM_EXIT_USAGE;
	}
	for (size_t t = 0; mm_cli_tables[t] != NULL; t++) {
		for (const mm_cli_cmd *cmd = mm_cli_tables[t]; cmd->name != NULL; cmd++) {
			int n = words_match(cmd->name, argc - i, argv + i);

			if (n > best_n) {
				best = cmd;
				best_n = n;
			}
		}
	}
	if (best == NULL) {
		help(stderr);
		return mm_cli_usage(&c, "unknown command '%s'", argv[i]);
	}
	c.cmd_name = best->name;
	c.cmd_usage = best->usage;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* argv for the command: [name, options...] so getopt works as usual. */
	argv[i + best_n - 1] = (char *)best->name;
	rc = best->fn(&c, argc - (i + best_n - 1), argv + i + best_n - 1);
	curl_global_cleanup();
	memset(c.token, 0, sizeof(c.token));
	return rc;
}
