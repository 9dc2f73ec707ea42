// nos::controller — the RNN controller that samples rules token by token (REINFORCE); arrives with issue 5.
#pragma once
