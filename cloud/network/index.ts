/**
 * Distribution network model, exact radial power flow, linearized OPF with DLMPs, and the
 * feasibility service. Everything here is pure computation except the CSV loaders.
 */
export { CsvError, loadFeederCsv, loadOffersCsv, parseFeederCsv, parseOffersCsv } from './csv.ts';
export {
  checkFeasibility,
  type FeasibilityReport,
  findViolations,
  type IntervalFeasibility,
  type Schedule,
  ScheduleSchema,
  type Violation,
} from './feasibility.ts';
export { dlmpJson, powerFlowJson } from './format.ts';
export {
  BASE_POWER_VA,
  type Branch,
  type Bus,
  buildNetwork,
  type Der,
  type Load,
  type Network,
  NetworkError,
  type NetworkInput,
} from './model.ts';
export { type Offer, OfferSchema } from './offers.ts';
export {
  type BusPrice,
  type DlmpInterval,
  type DlmpOptions,
  type DlmpResult,
  type DlmpScheduleResult,
  OpfError,
  solveDlmp,
  solveDlmpSchedule,
} from './opf.ts';
export {
  type InjectionOverrides,
  PowerFlowError,
  type PowerFlowOptions,
  type PowerFlowResult,
  solvePowerFlow,
} from './powerflow.ts';
export { syntheticFeeder } from './synthetic.ts';
