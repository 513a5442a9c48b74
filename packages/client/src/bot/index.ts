/** E2EE for bots (`@sotto/client/bot`): device key files and a listener that opens SFrame payloads. */

export { createDeviceFile, type DeviceFile, deviceFromFile, parseDeviceFile } from './device.ts';
export { type BotDataTransport, E2eeBot, type E2eeBotOptions, type E2eeBotStats } from './e2ee-bot.ts';
