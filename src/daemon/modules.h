/*
 * modules.h: the daemon's list of modules: their migration sets, how they
 * open and close, their periodic work and their start-up banner lines.
 * Adding a module means adding it in modules.c, nowhere else in the daemon.
 */
#ifndef MM_DAEMON_MODULES_H
#define MM_DAEMON_MODULES_H

#include <stdio.h>

#include "api/app.h"
#include "store/store.h"

extern const mm_migration_set *const mm_daemon_migrations[];
extern const size_t mm_daemon_nmigrations;

/* Opens the modules after access; Errors: whatever a module reports. */
mm_err mm_daemon_modules_open(mm_app *app);
/* Periodic work, called about every 200 ms from the ticker thread. */
void mm_daemon_modules_tick(mm_app *app);
/* Extra first-start lines (seal state...). */
void mm_daemon_modules_banner(mm_app *app, FILE *f);
void mm_daemon_modules_close(mm_app *app);

#endif
