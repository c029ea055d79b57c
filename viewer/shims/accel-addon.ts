/** The page's stand-in for src/accel/addon.ts: no native addon can load in a browser. */
export const loadAddon = (): null => null;
export const addonFile = (): null => null;
