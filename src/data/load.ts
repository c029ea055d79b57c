/** The dataset a config names, loaded: MNIST, Fashion-MNIST or image folders (through their cache). */
import { datasetOf, type Config } from '../config/schema.js';
import type { DataSplits } from './dataset.js';
import { loadImageFolders } from './folder.js';
import { FASHION_MNIST, loadIdxDataset, loadMnist } from './mnist.js';

export async function loadData(
  config: Config,
  log?: (msg: string) => void,
  onProgress?: (done: number, total: number) => void,
): Promise<DataSplits> {
  switch (datasetOf(config)) {
    case 'mnist':
      return loadMnist(config.MNIST.path, config.MNIST.MNIST_valset_proportion, config.seed, { subset: config.MNIST.subset, log });
    case 'fashion-mnist':
      return loadIdxDataset(FASHION_MNIST, config.FASHION_MNIST.path, config.FASHION_MNIST.valset_proportion, config.seed, {
        subset: config.FASHION_MNIST.subset,
        log,
      });
    case 'folder':
      return loadImageFolders(config, { log, onProgress });
  }
}
