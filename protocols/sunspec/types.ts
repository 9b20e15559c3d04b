/**
 * Typed SunSpec information-model definitions. The shape mirrors the SunSpec Alliance's JSON model
 * format (group → points + nested groups) so a conformance test can compare the two point by point.
 */

export type PointType =
  | 'int16'
  | 'uint16'
  | 'count'
  | 'acc16'
  | 'enum16'
  | 'bitfield16'
  | 'int32'
  | 'uint32'
  | 'acc32'
  | 'enum32'
  | 'bitfield32'
  | 'int64'
  | 'uint64'
  | 'acc64'
  | 'float32'
  | 'float64'
  | 'string'
  | 'sunssf'
  | 'pad';

export type Access = 'R' | 'RW';

export interface PointDef {
  readonly name: string;
  readonly type: PointType;
  /** Size in 16-bit registers. */
  readonly size: number;
  /** Name of the `sunssf` point that scales this one (searched in this group, then enclosing groups). */
  readonly sf?: string;
  readonly access: Access;
  readonly units?: string;
  readonly mandatory?: boolean;
  /** Static points (nameplate, identity) do not change while a device runs. */
  readonly static?: boolean;
  /** Enum / bitfield symbol names by value (enum) or bit number (bitfield). */
  readonly symbols?: Readonly<Record<string, number>>;
  /** Fixed value, e.g. the model ID point. */
  readonly value?: number;
}

export interface GroupDef {
  readonly name: string;
  /**
   * Repetitions: a number, or the name of a point (in an enclosing group) holding the count.
   * `0` means "as many as fit in the rest of the model's declared length". Absent means exactly one.
   */
  readonly count?: number | string;
  readonly points: readonly PointDef[];
  readonly groups?: readonly GroupDef[];
}

export interface ModelDef {
  readonly id: number;
  /** Top-level group; its first two points are always `ID` and `L`. */
  readonly group: GroupDef;
  /** Human label, e.g. "Inverter (Three Phase)". */
  readonly label: string;
}
