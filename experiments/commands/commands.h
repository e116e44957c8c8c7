#pragma once
// Entry points of the subcommands (one file each: cmd_<name>.cpp). Each receives the
// arguments after its name, returns the exit code, and throws UsageError for bad input.

#include <string>
#include <vector>

namespace experiments {

using Args = std::vector<std::string>;

int cmd_info(const Args& args);
int cmd_params(const Args& args);  // cmd_params.cpp
int cmd_flops(const Args& args);   // cmd_params.cpp
int cmd_data(const Args& args);    // cmd_data.cpp (datasets, episodes)
int cmd_bench(const Args& args);   // cmd_bench.cpp (built with meta)
int cmd_train(const Args& args);   // cmd_train.cpp (built with meta, datasets, episodes)
int cmd_launch(const Args& args);  // cmd_launch.cpp (N local ranks of a command)
int cmd_eval(const Args& args);    // cmd_eval.cpp
int cmd_adapt(const Args& args);   // cmd_adapt.cpp (training/adapt.cpp: few-shot on the user's images)
int cmd_export(const Args& args);  // cmd_export.cpp
int cmd_classify(const Args& args);
int cmd_analyze(const Args& args);
int cmd_report(const Args& args);    // cmd_report.cpp (report/run_report.cpp: runs compared, curves)   // cmd_analyze.cpp (analyze.cpp: outputs, analysis.cpp: maths)  // cmd_classify.cpp (classify.cpp: training loop, sweep report)

}  // namespace experiments
