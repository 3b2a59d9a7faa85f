// Type-aware lint. Workflow code must stay deterministic: no Node built-ins or I/O packages under workflows/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import { builtinModules } from 'node:module';

const ioPackages = [
  'dockerode',
  'execa',
  '@qdrant/js-client-rest',
  '@temporalio/activity',
  '@temporalio/client',
  '@temporalio/worker',
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.data/**', 'images/**', 'client/bin.js', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [...builtinModules, ...builtinModules.map((m) => `node:${m}`), ...ioPackages].map((name) => ({
            name,
            message: 'Workflows are deterministic: do I/O in an activity (type-only imports are allowed).',
            allowTypeImports: true,
          })),
          patterns: [
            {
              group: ['../activities/*', '**/activities/*'],
              allowTypeImports: true,
              message: 'Workflows import only the types of activities; the code runs in a worker.',
            },
          ],
        },
      ],
    },
  },
  prettier,
);
