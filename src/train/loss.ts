/** The reconstruction loss: mean squared error over every pixel, as PyTorch's nn.MSELoss() computes it. */
import { tf } from '../backend/index.js';
import { FUSED_MSE, fusedKernelAvailable, runFusedMse } from '../backend/native-kernels.js';

/** mean((pred - target)^2): one fused kernel each way with the native addon on wasm, else tfjs ops. */
export function meanSquaredError(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  if (fusedKernelAvailable(FUSED_MSE) && tf.util.arraysEqual(pred.shape, target.shape) && pred.dtype === 'float32' && target.dtype === 'float32') {
    return runFusedMse(pred, target);
  }
  return tf.mean(tf.squaredDifference(pred, target)) as tf.Scalar;
}
