#include "ops/registry.h"

namespace fi {

void register_recurrent(OpRegistry& r);  // recurrent.cc: RNN, GRU, LSTM

void register_rnn_ops(OpRegistry& r) { register_recurrent(r); }

}  // namespace fi
