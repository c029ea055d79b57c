/**
 * Adam as TensorFlow.js defines it (tf.train.adam: same state, same checkpointable weights, the same update up to
 * rounding: the native kernel multiplies by 1/(1 - beta^t) where tfjs divides), with the update of each variable
 * done by one native kernel in place when the addon is built: tfjs's own
 * version runs about a dozen element-wise kernels per variable, each a pass over memory plus JavaScript
 * dispatch, which cost a quarter of a small model's training step. Whenever the native update cannot run
 * (another backend, native kernels off, shared buffers) this falls back to tfjs's applyGradients, unchanged.
 */
import { tf } from '../backend/index.js';
import { adamUpdateInPlace, setScalarVariable, type AdamSlot } from '../accel/index.js';

type Slot = { originalName: string; variable: tf.Variable };
/** AdamOptimizer's private state, which this subclass keeps exactly as the base class would. */
export interface AdamState {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Slot[];
  accumulatedSecondMoment: Slot[];
}

type VariableGradients = Parameters<tf.AdamOptimizer['applyGradients']>[0];
type NamedTensor = Extract<VariableGradients, unknown[]>[number];

export class FusedAdamOptimizer extends tf.AdamOptimizer {
  override applyGradients(variableGradients: VariableGradients): void {
    if (!Array.isArray(variableGradients) || !this.applyNative(variableGradients)) super.applyGradients(variableGradients);
  }

  private applyNative(grads: NamedTensor[]): boolean {
    const state = this as unknown as AdamState;
    const slots: AdamSlot[] = [];
    grads.forEach(({ name, tensor }, i) => {
      const value = tf.engine().registeredVariables[name]!;
      // Moments are created on first use, named as the base class names them (checkpoints rely on it).
      state.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      state.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      if (tensor)
        slots.push({
          value,
          gradient: tensor,
          m: state.accumulatedFirstMoment[i]!.variable,
          v: state.accumulatedSecondMoment[i]!.variable,
        });
    });
    // The bias corrections as tfjs computes them: float32 scalars, 1 - beta^t.
    const acc1 = state.accBeta1.dataSync()[0]!,
      acc2 = state.accBeta2.dataSync()[0]!;
    const applied = adamUpdateInPlace(slots, {
      lr: this.learningRate,
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      c1: Math.fround(1 - acc1),
      c2: Math.fround(1 - acc2),
    });
    if (!applied) return false;
    setScalarVariable(state.accBeta1, Math.fround(acc1 * Math.fround(this.beta1)));
    setScalarVariable(state.accBeta2, Math.fround(acc2 * Math.fround(this.beta2)));
    this.incrementIterations();
    return true;
  }
}
