// Static inference again, once folding has made more values constant: a Range or Expand whose
// sizes came from folded shape arithmetic now has a known output shape, so it can fold in turn,
// and later passes see the sizes. Inference ran once before the passes and found no
// contradiction; should it find one now (a model that fails at run time anyway), the earlier
// results stay.
#include "graph/graph.h"
#include "graph/passes/passes.h"
#include "graph/shape_inference.h"

namespace fi {

void reinfer_types(Graph& g) {
  try {
    infer_types(g);
  } catch (const InvalidModel&) {
  }
}

}  // namespace fi
