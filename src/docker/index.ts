export { createDockerClient, DialStdioAgent, DEFAULT_DOCKER_SOCKET, type DockerClientOptions } from './client.js';
export {
  resolveContainer,
  dockerVersion,
  ContainerNotFoundError,
  ContainerNotRunningError,
  type ContainerInfo,
  type ResolveContainerOptions,
} from './containers.js';
