import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { filterPaths, fnmatchToRegExp } from '../src/hub/fnmatch';
import { scrubToken } from '../src/hub/hub-error';
import { hubSettings } from '../src/index';

describe('hubSettings', () => {
  it('defaults like huggingface_hub', () => {
    const settings = hubSettings({});
    expect(settings.hfHome).toBe(join(homedir(), '.cache', 'huggingface'));
    expect(settings.cacheDir).toBe(join(homedir(), '.cache', 'huggingface', 'hub'));
    expect(settings.endpoint).toBe('https://huggingface.co');
    expect(settings.offline).toBe(false);
  });

  it('honours HF_HOME, XDG_CACHE_HOME, HF_HUB_CACHE and the legacy HUGGINGFACE_HUB_CACHE', () => {
    expect(hubSettings({ XDG_CACHE_HOME: '/x' }).cacheDir).toBe('/x/huggingface/hub');
    expect(hubSettings({ HF_HOME: '/h', XDG_CACHE_HOME: '/x' }).cacheDir).toBe('/h/hub');
    expect(hubSettings({ HF_HOME: '/h', HUGGINGFACE_HUB_CACHE: '/old' }).cacheDir).toBe('/old');
    const both = hubSettings({ HF_HOME: '/h', HF_HUB_CACHE: '/c', HUGGINGFACE_HUB_CACHE: '/old' });
    expect(both).toMatchObject({ hfHome: '/h', cacheDir: '/c' });
    expect(hubSettings({ HF_HOME: '~/hf' }).hfHome).toBe(join(homedir(), 'hf'));
  });

  it('finds the token in HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then $HF_HOME/token', () => {
    const home = mkdtempSync(join(tmpdir(), 'slimlm-settings-'));
    try {
      expect(hubSettings({ HF_HOME: home }).token).toBeUndefined();
      writeFileSync(join(home, 'token'), 'hf_fromFile\n');
      expect(hubSettings({ HF_HOME: home }).token).toBe('hf_fromFile');
      expect(hubSettings({ HF_HOME: home, HUGGING_FACE_HUB_TOKEN: 'hf_old' }).token).toBe('hf_old');
      expect(
        hubSettings({ HF_HOME: home, HUGGING_FACE_HUB_TOKEN: 'hf_old', HF_TOKEN: 'hf_new' }).token,
      ).toBe('hf_new');
    } finally {
      rmSync(home, { recursive: true });
    }
  });

  it('reads HF_HUB_OFFLINE and HF_ENDPOINT', () => {
    for (const on of ['1', 'true', 'YES', 'On']) {
      expect(hubSettings({ HF_HUB_OFFLINE: on }).offline).toBe(true);
    }
    for (const off of ['0', 'false', '', 'no']) {
      expect(hubSettings({ HF_HUB_OFFLINE: off }).offline).toBe(false);
    }
    expect(hubSettings({ HF_ENDPOINT: 'https://mirror.example/' }).endpoint).toBe(
      'https://mirror.example',
    );
  });
});

describe('fnmatch patterns', () => {
  const paths = [
    'config.json',
    'model.safetensors',
    'tokenizer.json',
    'tokenizer_config.json',
    'onnx/model.onnx',
    'onnx/config.json',
    'a.txt',
    'b.txt',
    'ab.txt',
  ];

  it('matches like Python fnmatch: * crosses slashes, ?, [seq], [!seq]', () => {
    expect(filterPaths(paths, ['*.json'])).toEqual([
      'config.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'onnx/config.json',
    ]);
    expect(filterPaths(paths, ['tokenizer*'])).toEqual(['tokenizer.json', 'tokenizer_config.json']);
    expect(filterPaths(paths, ['?.txt'])).toEqual(['a.txt', 'b.txt']);
    expect(filterPaths(paths, ['[a].txt'])).toEqual(['a.txt']);
    expect(filterPaths(paths, ['[!a].txt'])).toEqual(['b.txt']);
    expect(filterPaths(paths, ['onnx/'])).toEqual(['onnx/model.onnx', 'onnx/config.json']);
    expect(filterPaths(paths, undefined, ['*.txt', 'onnx/*'])).toEqual([
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect(filterPaths(paths, [])).toEqual([]);
  });

  it('treats regex characters literally and an unclosed [ as a character', () => {
    expect(fnmatchToRegExp('a+b(1).json').test('a+b(1).json')).toBe(true);
    expect(fnmatchToRegExp('model.json').test('modelxjson')).toBe(false);
    expect(fnmatchToRegExp('[x').test('[x')).toBe(true);
  });
});

describe('scrubToken', () => {
  it('replaces every occurrence of the token', () => {
    expect(scrubToken('Bearer hf_abc and hf_abc again', 'hf_abc')).toBe('Bearer *** and *** again');
    expect(scrubToken('nothing here', undefined)).toBe('nothing here');
  });
});
