export const CPU = 'cpu';
