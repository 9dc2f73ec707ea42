// nos::search — search jobs: propose, dedupe, prefilter, evaluate in parallel, store, resume.
#pragma once

#include "search/config.h"
#include "search/demo_config.h"
#include "search/pool.h"
#include "search/prefilter.h"
#include "search/proposer.h"
#include "search/run.h"
#include "search/store.h"
#include "search/summary.h"
#include "search/token_space.h"
#include "search/wire.h"
