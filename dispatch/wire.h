// The worker protocol: evaluation jobs and their records as one-line JSON objects (the seam MPI will use later).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json.h"
#include "tasks/evaluator.h"

namespace nos::dispatch {

// One child to evaluate. `debug` is a test hook the worker obeys before evaluating: "abort" calls std::abort()
// (a crashing child), "hang" sleeps until killed (a child past its time limit); empty in real searches.
struct Job {
  int64_t id = 0;
  tasks::EvalRequest request;
  std::string debug;
  // Not empty: a population job (PopulationPool) — the worker evaluates these requests together
  // (Evaluator::evaluate_population) and answers with one record per member in JobResult::population. `request` is
  // then the first member's, for what the pool reads of a job (its time limit).
  std::vector<tasks::EvalRequest> population;
  // A measurement job (PopulationPool, `population: auto` on a device): the worker measures how many children like
  // `request` its device trains best at once (tasks::measure_population_size) instead of evaluating the request.
  bool measure_population = false;
};

// What came back for a job. status "crashed" (the worker died) and "timeout" (it was killed past the limit) are
// made by the pool; "error" means the evaluator refused the request (a bad config, missing data): message says why.
struct JobResult {
  int64_t id = 0;
  tasks::EvalRecord record;
  int worker = -1;  // which worker evaluated it; -1 when evaluated in no worker
  // A population job's records, one per member in order. Empty when the job failed as a whole (the worker crashed,
  // timed out or refused it): `record` then says how, for every member.
  std::vector<tasks::EvalRecord> population;
  // A measurement job's answer: the K measured (record.message has the rates); 0 when the measurement failed
  // (record.status and message say why).
  int population_k = 0;
};

// A request line: the EvalRequest's fields plus "job" (the id), "debug" and "measure_population" when set.
std::string encode_job(const Job& job);
// A record line: the EvalRecord's fields (grid trials and epochs as arrays of objects) plus "job".
std::string encode_result(int64_t job_id, const tasks::EvalRecord& record);
// The same for a result, plus "population" (an array of record objects) when it has members and "population_k" when
// set. A job line likewise carries a population job's requests as "population".
std::string encode_result(const JobResult& result);

// Read one line back; missing keys keep their defaults, NaN and infinities travel as null and come back NaN.
// Throw nos::InternalError for a line that is not such an object (a broken worker, a bug).
Job decode_job(const std::string& line);
JobResult decode_result(const std::string& line);
// A result already parsed (a record inside another JSON document: the comparison journal's lines).
JobResult decode_result(const JsonValue& object);

}  // namespace nos::dispatch
