/**
 * @slimlm/datasets: data files and Hub datasets as records, calibration text and windows,
 * instruction templates, loss masks, packing, seeded splits, multi-task mixing and staged
 * sequences for sequential fine-tuning.
 */

// records: files, folders and Hub datasets

export type { RecordFormat } from './records/format';
export {
  type DatasetFiles,
  type LoadDatasetOptions,
  loadDataset,
  resolveDatasetFiles,
  streamDataset,
} from './records/load-dataset';
export { type ReadRecordsOptions, readRecords, streamRecords } from './records/read-records';
export type { DataRecord } from './records/record';
export type { SampleBy } from './records/text';

// calibration

export {
  CALIBRATION_SETS,
  type CalibrationSet,
  type CalibrationText,
  type LoadCalibrationOptions,
  loadCalibrationText,
} from './calibration/calibration-text';
export { calibrationWindows } from './calibration/calibration-windows';
export { type DocumentWindowsOptions, documentWindows } from './calibration/document-windows';

// instruction templates

export { alpacaTemplate } from './templates/alpaca';
export { chatTemplate } from './templates/chat';
export { chatmlTemplate } from './templates/chatml';
export { type CustomTemplateOptions, customTemplate } from './templates/custom';
export type { FieldLabels } from './templates/placeholders';
export type { InstructionExample, PromptTemplate } from './templates/template';

// tokenizing, loss masks, packing

export { type PackedExample, packExamples } from './tokenize/pack';
export {
  IGNORE_INDEX,
  type TokenizedExample,
  type TokenizeInstructionsOptions,
  type TokenizeOptions,
  tokenizeExample,
  tokenizeInstructions,
} from './tokenize/tokenize-example';

// splits, filters, mixing, stages

export { filterByLength, type LengthFilter } from './collections/filter-by-length';
export {
  type MixOptions,
  type MixSource,
  mixDatasets,
} from './collections/mix-datasets';
export { shuffle } from './collections/shuffle';
export { type DatasetSplits, type SplitOptions, splitDataset } from './collections/split-dataset';
export {
  type DatasetStage,
  type PlannedStage,
  type StagedOptions,
  stagedDatasets,
} from './collections/staged-datasets';
