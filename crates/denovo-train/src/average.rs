//! Averaging a model's parameters over epochs (Polyak averaging; "stochastic weight
//! averaging", Izmailov et al. 2018): the mean of the parameters of the last epochs of a
//! fit, a flatter and steadier solution than the last epoch's.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Tensor, backend::Backend};
use denovo_glm::{float_tensor, to_f64_vec};
use std::collections::HashMap;

/// Running sums of every float parameter of a module, by parameter id (f64, host).
#[derive(Debug, Default)]
pub(crate) struct ParamSums {
    sums: HashMap<ParamId, Vec<f64>>,
    count: usize,
}

impl ParamSums {
    /// Adds `module`'s parameters.
    pub(crate) fn add<B: Backend, M: Module<B>>(&mut self, module: &M) {
        module.visit(&mut Adder {
            sums: &mut self.sums,
        });
        self.count += 1;
    }

    /// The number of modules added.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// `module` with every float parameter replaced by its mean over the modules added
    /// (parameters never added keep their value).
    pub(crate) fn average<B: Backend, M: Module<B>>(&self, module: M) -> M {
        module.map(&mut Averager { sums: self })
    }
}

struct Adder<'a> {
    sums: &'a mut HashMap<ParamId, Vec<f64>>,
}

impl<B: Backend> ModuleVisitor<B> for Adder<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let values = to_f64_vec(param.val());
        let sum = self
            .sums
            .entry(param.id)
            .or_insert_with(|| vec![0.0; values.len()]);
        for (s, v) in sum.iter_mut().zip(values) {
            *s += v;
        }
    }
}

struct Averager<'a> {
    sums: &'a ParamSums,
}

impl<B: Backend> ModuleMapper<B> for Averager<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, _) = param.consume();
        let Some(sum) = self.sums.sums.get(&id) else {
            return Param::initialized(id, tensor);
        };
        let n = self.sums.count.max(1) as f64;
        let dims: [usize; D] = tensor.dims();
        let mean =
            float_tensor::<B, D>(sum.iter().map(|s| s / n).collect(), dims, &tensor.device());
        Param::initialized(id, mean.require_grad())
    }
}
