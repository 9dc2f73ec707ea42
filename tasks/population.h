// Population training: K children of one task trained at once as one stacked model (HFTA, Wang et al. MLSys 2021;
// torch.func's model ensembling), each child exactly its solo run.
//
// The children share the seed, so they start from the same initialisation and see the same minibatches (common
// random numbers) and the same rule noise stream as their solo runs; they differ in rule and lr. The model's
// parameters are stacked with a leading K dimension (ClassifierImpl::forward_stacked: the first layer one layer of
// K times the outputs, later convolutions grouped, dense layers batched, batch norm per channel); each child's
// parameters are views of its slices, and its own optimizer (its rule's, any kind: compiled, native or learned)
// updates them, with its own lr, schedule factor, clipping and state. The loss is the sum of the live children's
// mean losses, so each child's gradient is its solo gradient: nothing else in a step mixes children.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "optimizers/optimizers.h"
#include "tasks/datasets.h"
#include "tasks/trainer.h"

namespace nos::tasks {

// One child of a population: its rule and its lr (> 0).
struct PopulationMember {
  const optimizers::ResolvedRule* rule = nullptr;
  double lr = 0;
};

// Whether `model` has a stacked form (ClassifierImpl::has_stacked_forward): convnet, 2c2d, 3c3d, mlp, mlp20, logreg.
bool has_population_form(const std::string& model);
// Throws UserError("`where`model 'M' has no stacked form (populations: …)") naming the models that have one.
void check_population_model(const std::string& model, const std::string& where);

// Trains the members as one population under `config` (its lr and lr grid are not used: each member has its lr) and
// returns one TrainResult per member, in order: what train_classifier at the member's fixed lr returns (float64:
// per-epoch losses and accuracies equal to rounding; float32: equal up to the order of floating-point sums).
// Divergence: a child whose loss is non-finite or blows up (the solo run's checks, at the same steps) stops there,
// status "diverged", and is masked: its slices are no longer updated and its loss leaves the sum, so the others go on
// exactly as without it. Hurdle: after the first epoch, as a solo run at a fixed lr; a child below it stops (status
// "hurdle"). The time limit is the population's: past it every child still training stops with status "timeout"
// ("the population's time limit of … s reached …").
// TrainResult::seconds is the population's wall time divided by K. Throws nos::UserError for a bad configuration (as
// train_classifier), an empty population, a member lr <= 0 or a model without a stacked form.
std::vector<TrainResult> train_population(const std::vector<PopulationMember>& members, const DataSplits& data,
                                          const TrainConfig& config);

// One run of a population job: `rule` at a fixed lr (> 0), or (lr 0) the paper's full grid protocol over lr_grid
// with the grid's lrs as lanes of the population side by side (TrainConfig::lr_search "full").
struct PopulationRun {
  const optimizers::ResolvedRule* rule = nullptr;
  double lr = 0;
  std::vector<double> lr_grid;
};

// Trains the runs as one population of lanes (a fixed-lr run is one lane; a grid run one lane per lr of its grid)
// under `config` (its lr and lr grid are not used: each run has its own) and returns one TrainResult per run, in
// order: what train_classifier gives for that run's lr or grid. A grid run's lanes train one trial (the first epoch,
// or the budget if shorter) side by side; at the trial's end the best validation accuracy wins (choose_lr) and only
// the winning lane trains on — exactly the solo protocol, whose full run continues the winning trial. Its record:
// grid (one trial per lr, in grid order), the winner's epochs, the hurdle at the trial's end ("after N steps"),
// "every lr of the grid diverged" when none is left, "lr grid: …" when the time limit ends the trials. Each run's
// TrainResult::seconds is the population's wall time times its share of the lanes. Throws nos::UserError as
// train_population, and for a run with neither an lr > 0 nor a grid.
std::vector<TrainResult> train_population_runs(const std::vector<PopulationRun>& runs, const DataSplits& data,
                                               const TrainConfig& config);

// The lanes a run adds to a population: 1 at a fixed lr, else its grid's size.
int64_t population_lanes(const PopulationRun& run);

// `population: auto` on the CPU — how many jobs a worker trains as one population of `model`: the choice measured
// on this project's CPU (docs/results/population-cpu: 16 for logreg and mlp20, whose dense layers gain from
// batching; 1 — solo — for the convolutional models and the wide MLP, which lose); 1 for a model without a stacked
// form. Another device ("cuda", "cuda:N") gets measure_population_choice instead; this returns 16 for it, the
// fallback where that measurement cannot run.
int default_population(const std::string& model, const std::string& device);

// `population: auto` on a device: children-steps per second of one child trained alone and of populations of
// K = 2, 4, 8, … up to max_k (synthetic data of `dataset`'s shape, config's model, batch, device and dtype, Adam;
// `steps` timed steps each after 2), and the K with the most (1 when no population beats the solo child). A K that
// LibTorch cannot run — out of the device's memory — ends the doubling, so the choice is capped by memory.
struct PopulationChoice {
  int64_t k = 1;
  std::vector<std::pair<int64_t, double>> rates;  // (K, children-steps per second); K = 1 is the solo child
  std::string stopped;                            // why the doubling ended before max_k (empty: it did not)
};
PopulationChoice measure_population_choice(const std::string& dataset, const TrainConfig& config, int64_t max_k,
                                           int64_t steps);

// The speed of the population's training step alone (gather, normalise, stacked forward, K losses, backward, K
// optimizer steps), as measure_training_throughput: `steps` timed after `warmup`; samples_per_second counts K
// children's samples.
Throughput measure_population_throughput(const std::vector<PopulationMember>& members, const DataSplits& data,
                                         const TrainConfig& config, int64_t warmup, int64_t steps);

}  // namespace nos::tasks
