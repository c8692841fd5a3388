//! Module parameters in the backend's own float precision.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Element, Tensor, backend::Backend};

/// Casts every float parameter of `module` to the backend's float element type.
///
/// burn 0.21 creates module parameters in the *device's* default dtype, which the first
/// backend to touch a device fixes for the whole process; a model built after, say, an
/// `NdArray<f64>` simulation in the same process would otherwise get f64 parameters on an
/// f32 backend. Call this on every freshly initialised module.
pub fn cast_to_backend_precision<B: Backend, M: Module<B>>(module: M) -> M {
    module.map(&mut CastFloats)
}

struct CastFloats;

impl<B: Backend> ModuleMapper<B> for CastFloats {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let dtype = <B::FloatElem as Element>::dtype();
        let (id, tensor, _) = param.consume();
        let tensor = if tensor.dtype() == dtype {
            tensor
        } else {
            tensor.cast(dtype)
        };
        Param::initialized(id, tensor.detach().require_grad())
    }
}
