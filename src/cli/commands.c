/* commands.c: every command table. A module adds its table here. */
#include "cli/cli.h"

extern const mm_cli_cmd mm_cli_cmds_sys[];
extern const mm_cli_cmd mm_cli_cmds_audit[];
extern const mm_cli_cmd mm_cli_cmds_keys[];
extern const mm_cli_cmd mm_cli_cmds_fisc[];
extern const mm_cli_cmd mm_cli_cmds_user[];
extern const mm_cli_cmd mm_cli_cmds_access[];

const mm_cli_cmd *const mm_cli_tables[] = {
	mm_cli_cmds_sys,
	mm_cli_cmds_audit,
	mm_cli_cmds_keys,
	mm_cli_cmds_fisc,
	mm_cli_cmds_user,
	mm_cli_cmds_access,
	NULL,
};
