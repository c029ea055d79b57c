/**
 * The acceleration boundary: the only code that loads or calls the native addon, or names a kernel of ours.
 * Models, training and t-SNE call these functions; each picks the native kernel where the addon is built and
 * the context allows it, else the same arithmetic in tfjs ops or TypeScript.
 */
export { accelSettings, nativeBuilt, nativeFile, withAccel, type AccelSettings } from './context.js';
export { KERNEL_TABLE, NATIVE_KERNELS, patchWasmBackend, WASM_PATCHED_KERNELS } from './kernel-table.js';
export { dense, type DenseActivation } from './dense.js';
export { batchNormRelu, normalize } from './batchnorm.js';
export { meanSquaredError } from './mse.js';
export { bceTerms, binaryCrossEntropy } from './bce.js';
export { adamUpdateInPlace, setScalarVariable, type AdamHyper, type AdamSlot } from './adam.js';
export { fillDropoutMask } from './dropout.js';
export { tsneNative, type TsneNative } from './tsne.js';
export { countFlops } from './flops.js';
