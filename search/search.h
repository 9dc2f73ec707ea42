// nos::search — search jobs: propose, dedupe, prefilter, evaluate in parallel, store, resume; arrives with issue 5.
#pragma once
