#pragma once
// The group flags of the commands that run as one rank of a process group (train; see
// distributed/group.h): --rank --world-size --master ADDR:PORT --backend --collective-timeout,
// over the variables torchrun and SLURM wrappers set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT). They say where a run executes, not what it trains: no config.ini key, no
// checkpoint attribute, free to change on --resume.

#include "distributed/group.h"
#include "experiments/commands/cli.h"

namespace experiments {

void add_group_options(po::options_description& desc);
// The environment's settings, then the flags given over them; throws UsageError naming the
// flag (or the variable) and the bad value.
distributed::GroupSettings group_settings(const po::variables_map& vm);

}  // namespace experiments
