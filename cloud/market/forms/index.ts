/**
 * # market/forms — the market forms other than the nodal DSO market
 *
 * Centralized (models 1, 2): the ISO clears the aggregators' net curve and the DGO screens its
 * awards with the exact power flow (centralized.ts), including ISO ancillary services split over the
 * offering resources and screened on top of energy (centralized-ancillary.ts). Peer-to-peer
 * (models 5, 6): a continuous double auction per territory with a linear network screen on every
 * match (p2p.ts). Pure, like clearing/: it builds on market/model, market/clearing and cloud/network.
 */

export * from './centralized.ts';
export * from './centralized-ancillary.ts';
export * from './p2p.ts';
