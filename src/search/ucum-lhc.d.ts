// The few parts of @lhncbc/ucum-lhc (a CommonJS package without type declarations) that src/search/ucum.ts uses.
declare module '@lhncbc/ucum-lhc' {
  interface UcumUnit {
    magnitude_: number;
    moleExp_: number;
    isSpecial_: boolean;
    isArbitrary_: boolean;
  }
  interface BaseUnits {
    status: 'succeeded' | 'invalid' | 'failed' | 'error';
    magnitude?: number;
    unitToExp?: Record<string, number>;
    fromUnitIsSpecial?: boolean;
  }
  interface UcumLhcUtils {
    convertToBaseUnits(fromUnit: string, fromVal: number): BaseUnits;
    getSpecifiedUnit(uName: string, valConv: 'validate' | 'convert', suggest?: boolean): { unit?: UcumUnit | null; origString?: string };
  }
  const ucum: { UcumLhcUtils: { getInstance(): UcumLhcUtils } };
  export default ucum;
}
