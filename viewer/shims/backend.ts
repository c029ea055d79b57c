/**
 * The page's stand-in for src/backend/index.ts (which picks and starts a Node backend): TensorFlow.js as bundled
 * for the browser. scripts/build-viewer.mjs points the models' import here.
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
