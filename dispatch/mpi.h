// Searches and comparisons across machines on MPI (issue 20). Under `mpirun -np N nos search ...` (or `srun`) rank 0
// runs the command as usual with an MpiPool as its evaluator pool, and ranks 1 … N−1 serve it: each runs every job
// it is given in a local `nos worker` process (a ProcessPool of one), exactly as the local pool does, so a crashing
// or hanging child costs that worker process, never the rank (Open MPI aborts the whole job when a rank dies). The
// messages are the worker protocol's job and record lines (wire.h); the data are read by each rank from its own
// path, never sent. Only rank 0 opens files of the run (the store, the equivalence cache, the journal). Built when
// CMake finds MPI (NOS_HAVE_MPI); otherwise every function here says so with a UserError.
#pragma once

#include <memory>
#include <string>

#include "dispatch/pool.h"

namespace nos::dispatch {

// Whether this nos was built with MPI.
bool mpi_built();

// The number of ranks an MPI launcher started this process among (OMPI_COMM_WORLD_SIZE of mpirun, PMI_SIZE or
// PMIX_SIZE of srun and other launchers), or 1 when none did.
int mpi_launched_ranks();

// MPI for this process: MPI_Init on construction, MPI_Finalize on destruction. On rank 0 the destructor first tells
// every other rank to stop (if no pool did), so a rank 0 that fails early never leaves the others waiting. Throws
// UserError when nos was built without MPI.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }
  // Sends the stop message to ranks 1 … N−1, once (later calls do nothing).
  void stop_servers();

 private:
  int rank_ = 0;
  int size_ = 1;
  bool stopped_ = false;
};

struct MpiPoolOptions {
  // How each serving rank starts its `nos worker` (executable, args, log_path, kill_grace; workers is 1). The
  // executable and args are sent to the ranks; log_path is used by rank 0's own worker only (serving ranks log to
  // their stderr, which mpirun forwards).
  ProcessPoolOptions worker;
  // Rank 0 also evaluates, in a local worker of its own (--rank0-evaluates): on a small job rank 0 is mostly idle.
  bool rank0_evaluates = false;
};

// Rank 0's pool: a free rank gets the next job; results are taken from whichever rank finishes first
// (MPI_ANY_SOURCE); JobResult::worker is the rank (0 for rank 0's own worker). Its size is the number of evaluating
// ranks. shutdown() (and the destructor) resets the serving ranks: they abandon their jobs and wait for the next
// pool or the session's stop. Waiting polls every 2 ms, so rank 0 does not spin a core that an evaluator on the same
// machine needs.
std::unique_ptr<EvaluatorPool> make_mpi_pool(MpiSession& session, MpiPoolOptions options);

// The loop of ranks 1 … N−1: wait for the worker's command line from rank 0, then run jobs until told to stop.
// NOS_MPI_DATA_DIR ("fmnist=/local/fashion-mnist,cifar10=/scratch/cifar") on a rank overrides the data folders rank
// 0 sent, for that rank only. SIGINT and SIGTERM are ignored here: rank 0 handles them and stops this rank. Returns
// the exit code (0).
int mpi_serve(MpiSession& session);

}  // namespace nos::dispatch
