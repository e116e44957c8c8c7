#include "experiments/training/loop.h"

#include "experiments/commands/cli.h"
#include "experiments/report/progress.h"

#include <cmath>
#include <iostream>
#include <stdexcept>

namespace experiments {

int64_t run_training(const LoopOptions& o, const std::function<void(Unit&)>& step, const std::vector<Callback*>& callbacks) {
  for (int64_t i = o.start; i < o.total; ++i) {
    Unit unit;
    unit.index = i;
    step(unit);
    if (!std::isfinite(unit.loss)) {
      for (auto* c : callbacks) c->on_error(unit);
      std::string where = o.last_checkpoint != nullptr ? " The last good checkpoint is " + *o.last_checkpoint : "";
      if (o.info != nullptr) where += " (" + o.unit_name + " " + std::to_string(o.info->iteration) + ")";
      throw std::runtime_error((o.who.empty() ? "" : o.who + ": ") + "non-finite " + o.loss_name + " (" +
                               format_double(unit.loss) + ") at " + o.unit_name + " " + std::to_string(unit.done()) +
                               "; training stopped." + where + (o.hint.empty() ? "" : "; " + o.hint));
    }
    for (auto* c : callbacks) c->after_unit(unit);
    if (unit.stop) return unit.done();
  }
  return o.total;
}

Evaluation::Evaluation(int64_t every, int64_t total, std::function<double(Unit&)> evaluate, CheckpointInfo& info,
                       bool track_best)
    : every_(every), total_(total), evaluate_(std::move(evaluate)), info_(info), track_best_(track_best) {}

void Evaluation::after_unit(Unit& unit) {
  const int64_t done = unit.done();
  if (!(done == total_ || (every_ > 0 && done % every_ == 0))) return;
  unit.evaluated = true;
  const double figure = evaluate_(unit);
  if (track_best_ && std::isnan(figure)) {  // nothing to rank by: the latest is the best
    unit.best = true;
    info_.best_iteration = done;
  } else if (track_best_ && figure > info_.best_val_accuracy) {
    unit.best = true;
    info_.best_val_accuracy = figure;
    info_.best_iteration = done;
  }
}

MetricsWriter::MetricsWriter(const RunDirectory& run, std::vector<std::string> columns)
    : run_(run), columns_(std::move(columns)) {}

std::string MetricsWriter::header() const {
  std::string out;
  for (const auto& c : columns_) out += (out.empty() ? "" : ",") + c;
  return out;
}

void MetricsWriter::after_unit(Unit& unit) {
  std::string row;
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (i > 0) row += ",";
    const auto it = unit.cells.find(columns_[i]);
    if (it != unit.cells.end()) row += it->second;
  }
  run_.append_metrics(row);
}

void MetricsWriter::on_error(Unit& unit) { after_unit(unit); }

Checkpointer::Checkpointer(const RunDirectory& run, TrainingState state, CheckpointInfo& info, bool every_unit,
                           bool keep_best, int64_t episodes_per_unit)
    : run_(run),
      state_(std::move(state)),
      info_(info),
      every_unit_(every_unit),
      keep_best_(keep_best),
      episodes_per_unit_(episodes_per_unit) {}

void Checkpointer::after_unit(Unit& unit) {
  if (!every_unit_ && !unit.evaluated) return;
  info_.iteration = unit.done();
  info_.next_episode = unit.done() * episodes_per_unit_;
  // best.h5 first: a kill between the two leaves last.h5 one step behind, which --resume simply
  // recomputes.
  if (keep_best_ && unit.best) save_checkpoint(run_.best(), state_, info_);
  save_checkpoint(run_.last(), state_, info_);
}

StopAfter::StopAfter(int64_t units, int64_t start, int64_t total, std::function<std::string(const Unit&)> message)
    : units_(units), start_(start), total_(total), message_(std::move(message)) {}

void StopAfter::after_unit(Unit& unit) {
  if (units_ > 0 && unit.done() - start_ >= units_ && unit.done() < total_) {
    unit.stop = true;
    std::cerr << message_(unit);
  }
}

Progress::Progress(ProgressBar& bar, std::function<std::string(const Unit&)> status)
    : bar_(bar), status_(std::move(status)) {}

void Progress::after_unit(Unit& unit) { bar_.update(unit.done(), status_(unit)); }

void Progress::on_error(Unit& unit) {
  (void)unit;
  bar_.finish("stopped");
}

}  // namespace experiments
